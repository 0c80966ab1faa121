/*  fuzz_import — libFuzzer target: the per-file parsing of `farfanctl
    contracts import` (services/ctl/ctl_contracts_import.c).

    The importer's readers are static functions of one file; this target
    compiles that file into itself (#include) to call them one by one,
    exactly as ctl_contracts_import calls them, without the rest of the
    command (the structure contracts, writing the set, the load check).

    At start a small upstream layout is written to a scratch directory
    (generated here: ten policy areas, two modalities, a few registry
    patterns, an alias file, question Q001, and the project's own element
    map contracts/src/upstream-element-map.json). Each input then replaces
    one of its files and the import's readers run over the layout:

      byte 0 % 7    0  the rest is one upstream pattern text: the Python
                       re -> PCRE2 translation (s_translate) and the
                       accent folding (s_fold)
                    1  questions/Q001.json
                    2  patterns/MASTER_INDEX.json
                    3  modular_manifest.json
                    4  scoring_system.json
                    5  contracts_v4/Q001_PA01_contract_v4.json
                    6  upstream-element-map.json
      the rest      the file's content

    The readers: s_map_load, s_manifest_load + s_policy_areas_check,
    s_scoring_load, s_registry_load, s_aliases_load; when those found no
    error, s_question_import of Q001 (reference resolution, pattern
    translation and compilation, the element map) and s_validate (the
    factory's validation of the contract written), then the report.
*/
#include "../../services/ctl/ctl_contracts_import.c"

#include <unistd.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const s_files [] = {
    NULL,
    "questions/Q001.json",
    "patterns/MASTER_INDEX.json",
    "modular_manifest.json",
    "scoring_system.json",
    "contracts_v4/Q001_PA01_contract_v4.json",
    S_MAP_FILE,
};
#define S_FILES (sizeof s_files / sizeof s_files [0])

static char s_dir [256];                    // the layout
static char *s_originals [S_FILES];         // each file's generated content
static size_t s_original_sizes [S_FILES];

static void
s_die (const char *what, const char *detail)
{
    fprintf (stderr, "fuzz_import: %s %s: %s\n", what, detail, strerror (errno));
    abort ();
}

static void
s_write (const char *relative, const void *data, size_t size)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", s_dir, relative);
    FILE *file = fopen (path, "wb");
    if (!file || (size && fwrite (data, 1, size, file) != size) || fclose (file) != 0)
        s_die ("cannot write", path);
}

static void
s_write_json (const char *relative, json_t *value)
{
    char *text = json_dumps (value, JSON_INDENT (1));
    s_write (relative, text, strlen (text));
    free (text);
    json_decref (value);
}

static void
s_mkdir (const char *relative)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", s_dir, relative);
    if (mkdir (path, 0755) != 0)
        s_die ("cannot create", path);
}

static void
s_remove_tree (const char *path)
{
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (!strcmp (entry->d_name, ".") || !strcmp (entry->d_name, ".."))
            continue;
        char child [PATH_MAX];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        struct stat info;
        if (lstat (child, &info) == 0 && S_ISDIR (info.st_mode))
            s_remove_tree (child);
        else
            unlink (child);
    }
    if (dir)
        closedir (dir);
    rmdir (path);
}

static void
s_at_exit (void)
{
    if (*s_dir)
        s_remove_tree (s_dir);
    for (size_t i = 0; i < S_FILES; i++)
        free (s_originals [i]);
}

static json_t *
s_pattern (const char *type, const char *pattern, const char *category, const char *legacy)
{
    return json_pack ("{s:{s:s, s:s, s:[s, s]}, s:{s:s, s:f}, s:[s]}",
        "pattern_spec", "type", type, "pattern", pattern, "flags", "IGNORECASE", "MULTILINE",
        "classification", "category", category, "confidence_weight", 0.85,
        "legacy_ids", legacy);
}

//  The generated layout (see the header).
static void
s_layout (void)
{
    static const char *const clusters [10] = {
        "CL02", "CL01", "CL01", "CL03", "CL02", "CL02", "CL01", "CL03", "CL04", "CL04",
    };
    s_mkdir ("questions");
    s_mkdir ("patterns");
    s_mkdir ("contracts_v4");
    s_mkdir ("policy_areas");
    json_t *items = json_array ();
    for (int area = 1; area <= 10; area++) {
        char id [8], relative [64];
        snprintf (id, sizeof id, "PA%02d", area);
        json_array_append_new (items, json_pack ("{s:s, s:s}", "id", id, "cluster",
                                                 clusters [area - 1]));
        snprintf (relative, sizeof relative, "policy_areas/%s_area", id);
        s_mkdir (relative);
        snprintf (relative, sizeof relative, "policy_areas/%s_area/metadata.json", id);
        s_write_json (relative, json_pack ("{s:s, s:s, s:s}", "policy_area_id", id,
                                           "cluster_id", clusters [area - 1], "name", id));
    }
    s_write_json ("modular_manifest.json",
                  json_pack ("{s:{s:{s:o}}}", "structure", "policy_areas", "items", items));
    s_write_json ("scoring_system.json", json_pack ("{s:{s:{s:f}, s:{s:f}}}", "modalities",
                  "TYPE_A", "threshold", 0.7, "TYPE_B", "threshold", 0.65));
    json_t *registry = json_object ();
    json_object_set_new (registry, "PAT-BASE",
                         s_pattern ("REGEX", "DANE|fuente", "FUENTE_OFICIAL", "PAT-BASE"));
    json_object_set_new (registry, "PAT-LEG",
                         s_pattern ("REGEX", "tasa de \\w+", "INDICADOR", "OLD-7"));
    json_object_set_new (registry, "PAT-LIT",
                         s_pattern ("LITERAL", "$ 1.234 (COP)", "GENERAL", "PAT-LIT"));
    json_object_set_new (registry, "PAT-NER",
                         s_pattern ("NER_OR_REGEX", "(?u)poblaci[oó]n{,3}\\Z", "GENERAL", "PAT-NER"));
    s_write_json ("patterns/MASTER_INDEX.json", json_pack ("{s:o}", "patterns", registry));
    s_write_json ("contracts_v4/Q001_PA01_contract_v4.json", json_pack (
        "{s:{s:[{s:s, s:s}]}}", "question_context", "patterns", "id", "ALIAS-9",
        "pattern_ref", "PAT-NER"));
    s_write_json ("questions/Q001.json", json_pack (
        "{s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:i}, {s:s, s:b, s:s}],"
        " s:{s:[s, s, s, s, s]}, s:{s:s, s:f, s:{s:f}}, s:{s:s}}",
        "question_id", "Q001", "dimension_id", "DIM01", "policy_area_id", "PA01",
        "cluster_id", "CL02", "text", "es", "¿Pregunta 1 del área PA01?",
        "expected_elements", "type", "fuentes_oficiales", "minimum", 2,
        "type", "indicadores_cuantitativos", "required", true, "description", "cifras",
        "references", "pattern_refs", "PAT-BASE", "OLD-7", "ALIAS-9", "PAT-LIT", "PAT-NOPE",
        "scoring", "modality", "TYPE_A", "threshold", 0.6, "weights", "expected_elements", 1.0,
        "metadata", "version", "2.0.0"));
    //  An excerpt of the project's own element map: every category, the
    //  cues of the two element types Q001 expects and of three more (the
    //  whole map's 100 cue lists would make every input spend its time
    //  folding them).
    json_error_t error;
    json_t *map = json_load_file (FF_CONTRACTS_SOURCE_DIR "/" S_MAP_FILE, 0, &error);
    if (!map)
        s_die ("cannot read", FF_CONTRACTS_SOURCE_DIR "/" S_MAP_FILE);
    json_t *cues = json_object_get (map, "cues");
    json_t *kept = json_object ();
    const char *key;
    json_t *value;
    size_t others = 0;
    json_object_foreach (cues, key, value)
        if (!strcmp (key, "fuentes_oficiales") || !strcmp (key, "indicadores_cuantitativos")
        ||  others++ < 3)
            json_object_set (kept, key, value);
    json_object_set_new (map, "cues", kept);
    json_object_del (map, "_comment");
    s_write_json (S_MAP_FILE, map);
    FILE *file;
    for (size_t i = 1; i < S_FILES; i++) {
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/%s", s_dir, s_files [i]);
        file = fopen (path, "rb");
        if (!file)
            s_die ("cannot read", path);
        s_originals [i] = (char *) malloc (1 << 20);
        s_original_sizes [i] = fread (s_originals [i], 1, 1 << 20, file);
        fclose (file);
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    //  In FARFAN_FUZZ_SCRATCH when set (run.sh), else on tmpfs if any.
    const char *scratch = getenv ("FARFAN_FUZZ_SCRATCH");
    if (!scratch || !*scratch)
        scratch = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf (s_dir, sizeof s_dir, "%s/farfan-fuzz-import-XXXXXX", scratch);
    if (!mkdtemp (s_dir))
        s_die ("cannot create", s_dir);
    atexit (s_at_exit);
    s_layout ();
    //  FARFAN_FUZZ_IMPORT_SEEDS=DIR: writes the seed corpus (each generated
    //  file behind its selector byte, and a few pattern texts) and exits.
    const char *seeds = getenv ("FARFAN_FUZZ_IMPORT_SEEDS");
    if (seeds && *seeds) {
        static const char *const patterns [] = {
            "xa{,3}b|fin\\Z", "\\\\d{4}\\\\s+a\\\\w+s", "[[:alpha:]]+|[]a]+",
            "ni\\u00f1os (?u)poblaci[oó]n", "\\p{L}+|(?a)\\w+|(abc", "\\N{LATIN SMALL LETTER N}",
        };
        for (size_t i = 0; i + 1 < S_FILES + sizeof patterns / sizeof patterns [0]; i++) {
            char path [PATH_MAX];
            snprintf (path, sizeof path, "%s/seed-%02zu", seeds, i);
            FILE *file = fopen (path, "wb");
            if (!file)
                s_die ("cannot write", path);
            bool pattern = i == 0 || i >= S_FILES;
            const char *text = pattern ? patterns [i ? i - S_FILES + 1 : 0] : NULL;
            fputc (pattern ? 0 : (int) i, file);
            if (pattern)
                fputs (text, file);
            else
                fwrite (s_originals [i], 1, s_original_sizes [i], file);
            if (fclose (file) != 0)
                s_die ("cannot write", path);
        }
        exit (0);
    }
    return 0;
}

static void
s_import_run (void)
{
    s_import_t self_data = { 0 };
    s_import_t *self = &self_data;
    self->farfan = s_dir;
    self->source = s_dir;
    self->out = s_dir;
    s_import_collections_new (self);

    s_map_load (self);
    if (s_manifest_load (self) == 0)
        s_policy_areas_check (self);
    s_scoring_load (self);
    s_registry_load (self);
    s_aliases_load (self);
    if (!self->error_count) {
        s_question_import (self, 1);
        s_questions_extra (self);
        if (!self->error_count)
            s_validate (self, self->micro);
    }
    json_t *report = s_report_json (self, 0, NULL, 0);
    json_decref (report);

    s_import_free (self);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t which = data [0] % S_FILES;
    if (which == 0) {
        char *python = (char *) malloc (size);
        memcpy (python, data + 1, size - 1);
        python [size - 1] = 0;
        json_t *notes = json_array ();
        char why [512] = "";
        char *regex = s_translate (python, notes, why, sizeof why);
        if (regex) {
            //  A translation is a PCRE2 pattern: it compiles or says why.
            fac_pattern_t pattern = { .id = "P0", .regex = regex, .element_type = "x",
                                      .weight = 1 };
            char err [256];
            (void) fac_pattern_check (&pattern, err, sizeof err);
        }
        else
        if (!*why)
            abort ();                   //  a refusal always says why
        free (regex);
        json_decref (notes);
        char *folded = s_fold (python);
        free (folded);
        free (python);
        return 0;
    }
    s_write (s_files [which], data + 1, size - 1);
    s_import_run ();
    s_write (s_files [which], s_originals [which], s_original_sizes [which]);
    return 0;
}
