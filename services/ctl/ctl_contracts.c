/*  farfanctl contracts SUBCOMMAND ...

    Contract sets on disk:
      generate [--source DIR] [--out DIR] [--force] [--json]
          writes the project's default set (contracts/README.md) from its
          source: one set file per phase, byte-identical on regeneration.
          The set is first loaded as a factory would load it; when a
          contract does not load, every error is printed and nothing is
          written (--force writes anyway, e.g. for a newer factory).
          Defaults: --source FF_CONTRACTS_SOURCE_DIR, --out
          FF_CONTRACTS_DEFAULT_DIR (contracts/src and contracts/default of
          the source tree farfanctl was built from).
      check DIR [--json]
          loads DIR as a factory loads its contracts directory
          (fac_contract_set_load_dir, exec disabled) and prints the
          contracts per phase, the set digest and every load error.

    Subcommands may live in other files (contracts import): every one has
    its own line in the command table (ctl_commands.c), named "contracts",
    whose usage starts with the subcommand's name. farfanctl runs the
    first "contracts" line; ctl_contracts_dispatch finds the right one.
    Exit codes: 0 ok, 1 the source or the set has errors, 2 usage.
*/
#include "ctl_command.h"
#include "ctl_output.h"
#include "ctl_set_structure.h"
#include "ctl_table.h"
#include "fac_contract.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FF_CONTRACTS_SOURCE_DIR
#   error "FF_CONTRACTS_SOURCE_DIR must be defined (services/meson.build)"
#endif
#ifndef FF_CONTRACTS_DEFAULT_DIR
#   error "FF_CONTRACTS_DEFAULT_DIR must be defined (services/meson.build)"
#endif

#define S_PREFIX "farfanctl contracts"
//  Load errors kept for printing; past it only the count grows.
#define S_ERRORS_KEPT 10000

static int
s_usage (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_usage (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, S_PREFIX ": ");
    vfprintf (stderr, format, args);
    fprintf (stderr, " (see farfanctl contracts --help)\n");
    va_end (args);
    return CTL_EXIT_USAGE;
}

static void
s_help (FILE *out)
{
    fprintf (out,
        "Usage: farfanctl contracts SUBCOMMAND ...\n"
        "  generate [--source DIR] [--out DIR] [--force] [--json]\n"
        "      write the default contract set from its source (contracts/README.md);\n"
        "      nothing is written when a contract would not load (--force: write anyway)\n"
        "      source: %s\n"
        "      out:    %s\n"
        "  check DIR [--json]\n"
        "      load DIR as a factory would: contracts per phase, set digest, every load error\n",
        FF_CONTRACTS_SOURCE_DIR, FF_CONTRACTS_DEFAULT_DIR);
    for (const ctl_command_t *command = ctl_commands; command->name; command++)
        if (strcmp (command->name, "contracts") == 0 && command->run != ctl_contracts)
            fprintf (out, "  %s\n      %s\n", command->usage, command->summary);
    fprintf (out, "Exit codes: 0 ok, 1 errors in the source or the set, 2 usage error.\n");
}

//  ---------------------------------------------------------------------
//  A loaded set: counts per phase, digest, errors

typedef struct {
    fac_contract_set_t *set;
    fac_load_report_t report;
    int loaded;                 // contracts added; -1 when the directory could not be opened
} s_loaded_t;

static void
s_loaded_free (s_loaded_t *loaded)
{
    fac_contract_set_destroy (&loaded->set);
    fac_load_report_free (&loaded->report);
}

//  The set as JSON: contracts, per_phase, digest, error_count, errors.
static json_t *
s_loaded_json (s_loaded_t *loaded)
{
    size_t count = 0;
    fac_contract_t **all = fac_contract_set_all (loaded->set, &count);
    json_t *per_phase = json_object ();
    for (int phase = 0; phase < FAC_PHASE_COUNT; phase++) {
        size_t in_phase = 0;
        for (size_t i = 0; i < count; i++)
            in_phase += fac_contract_in_phase (all [i], phase);
        char key [4];
        snprintf (key, sizeof key, "P%02d", phase);
        json_object_set_new (per_phase, key, json_integer ((json_int_t) in_phase));
    }
    json_t *errors = json_array ();
    size_t stored = loaded->report.count < loaded->report.capacity
                  ? loaded->report.count : loaded->report.capacity;
    for (size_t i = 0; i < stored; i++) {
        const fac_load_error_t *error = &loaded->report.errors [i];
        json_array_append_new (errors, json_pack ("{so so so so}",
            "file", ctl_output_string (error->file), "field", ctl_output_string (error->field),
            "reason", ctl_output_string (error->reason),
            "contract_id", ctl_output_string (error->contract_id)));
    }
    return json_pack ("{sI so ss sI so}", "contracts", (json_int_t) count, "per_phase", per_phase,
                      "digest", fac_contract_set_digest (loaded->set),
                      "error_count", (json_int_t) loaded->report.count, "errors", errors);
}

static void
s_print_errors (const s_loaded_t *loaded, FILE *out)
{
    size_t stored = loaded->report.count < loaded->report.capacity
                  ? loaded->report.count : loaded->report.capacity;
    fprintf (out, "%zu load error%s:\n", loaded->report.count, loaded->report.count == 1 ? "" : "s");
    for (size_t i = 0; i < stored; i++) {
        const fac_load_error_t *error = &loaded->report.errors [i];
        fprintf (out, "  %s%s%s%s%s%s: %s\n", error->file, *error->field ? ": " : "", error->field,
                 *error->contract_id ? " (" : "", error->contract_id, *error->contract_id ? ")" : "",
                 error->reason);
    }
    if (loaded->report.count > stored)
        fprintf (out, "  ... and %zu more\n", loaded->report.count - stored);
}

static void
s_print_counts (s_loaded_t *loaded, FILE *out)
{
    size_t count = 0;
    fac_contract_t **all = fac_contract_set_all (loaded->set, &count);
    ctl_table_t *table = ctl_table_new ("PHASE|>CONTRACTS");
    for (int phase = 0; phase < FAC_PHASE_COUNT; phase++) {
        size_t in_phase = 0;
        for (size_t i = 0; i < count; i++)
            in_phase += fac_contract_in_phase (all [i], phase);
        ctl_table_row (table);
        ctl_table_cell (table, "P%02d", phase);
        ctl_table_cell (table, "%zu", in_phase);
    }
    ctl_table_print (table, out, 2);
    ctl_table_destroy (&table);
    fprintf (out, "  set digest %s\n", fac_contract_set_digest (loaded->set));
}

//  Loads a set held in memory ({"P00": [...], ...}) exactly as the files
//  ctl_set_write would write would load, naming them dir/<file>.
static void
s_load_memory (s_loaded_t *loaded, const json_t *by_phase, const char *dir)
{
    loaded->set = fac_contract_set_new (NULL);
    fac_load_report_init (&loaded->report, S_ERRORS_KEPT);
    loaded->loaded = 0;
    for (int phase = 0; phase < FAC_PHASE_COUNT; phase++) {
        bool nomem = false;
        json_t *file = ctl_set_file (by_phase, phase, &nomem);
        if (!file && !nomem)
            continue;
        char *text = file ? json_dumps (file, JSON_COMPACT) : NULL;
        char source [4352];
        snprintf (source, sizeof source, "%s/%s", dir, ctl_set_file_name (phase));
        if (text)
            loaded->loaded += fac_contract_set_add_json (loaded->set, text, strlen (text), source,
                                                         &loaded->report);
        free (text);
        json_decref (file);
    }
}

//  ---------------------------------------------------------------------
//  generate

static int
s_generate (int argc, char **argv)
{
    const char *source = FF_CONTRACTS_SOURCE_DIR;
    const char *out = FF_CONTRACTS_DEFAULT_DIR;
    bool force = false, json = false;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv [i];
        bool has_value = i + 1 < argc;
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_help (stdout);
            return CTL_EXIT_OK;
        }
        if (strcmp (arg, "--source") == 0 && has_value)
            source = argv [++i];
        else
        if (strcmp (arg, "--out") == 0 && has_value)
            out = argv [++i];
        else
        if (strcmp (arg, "--force") == 0)
            force = true;
        else
        if (strcmp (arg, "--json") == 0)
            json = true;
        else
        if (*arg == '-')
            return s_usage ("generate: unknown option \"%s\"%s", arg,
                            has_value ? "" : " (or missing value)");
        else
            return s_usage ("generate takes no argument (\"%s\"): use --source and --out", arg);
    }
    char err [1024] = "";
    json_t *set = NULL;
    ctl_generate_report_t report;
    if (ctl_contracts_generate (source, NULL, &set, &report, err, sizeof err)) {
        if (json)
            ctl_output_json_line (stdout, json_pack ("{ss ss sb so}", "source", source, "out", out,
                                                     "written", 0, "error", ctl_output_string (err)));
        else
            fprintf (stderr, S_PREFIX " generate: %s\n", err);
        return CTL_EXIT_ERROR_REPLY;
    }
    s_loaded_t loaded = { NULL };
    s_load_memory (&loaded, set, out);
    bool load_errors = loaded.report.count > 0;
    bool write = !load_errors || force;
    int rc = CTL_EXIT_OK;
    if (write && ctl_set_write (out, set, err, sizeof err)) {
        rc = CTL_EXIT_ERROR_REPLY;
        write = false;
    }
    if (load_errors)
        rc = CTL_EXIT_ERROR_REPLY;
    if (json) {
        json_t *answer = s_loaded_json (&loaded);
        json_object_set_new (answer, "source", json_string (source));
        json_object_set_new (answer, "out", json_string (out));
        json_object_set_new (answer, "written", json_boolean (write));
        json_object_set_new (answer, "files", json_integer ((json_int_t) (write ? report.files : 0)));
        json_object_set_new (answer, "patterns", json_integer ((json_int_t) report.patterns));
        if (*err)
            json_object_set_new (answer, "error", ctl_output_string (err));
        ctl_output_json_line (stdout, answer);
        json_decref (answer);
    }
    else {
        if (write)
            printf ("wrote %zu contracts in %zu set files to %s (%zu patterns in the micro contracts)\n",
                    report.contracts, report.files, out, report.patterns);
        s_print_counts (&loaded, stdout);
        if (load_errors)
            s_print_errors (&loaded, stderr);
        if (*err)
            fprintf (stderr, S_PREFIX " generate: %s\n", err);
        else
        if (!write)
            fprintf (stderr, S_PREFIX " generate: nothing written to %s: the set does not load "
                     "(--force writes it anyway)\n", out);
        else
        if (load_errors)
            fprintf (stderr, S_PREFIX " generate: written with --force although it does not load\n");
    }
    s_loaded_free (&loaded);
    json_decref (set);
    return rc;
}

//  ---------------------------------------------------------------------
//  check

static int
s_check (int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv [i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_help (stdout);
            return CTL_EXIT_OK;
        }
        if (strcmp (arg, "--json") == 0)
            json = true;
        else
        if (*arg == '-')
            return s_usage ("check: unknown option \"%s\"", arg);
        else
        if (!dir)
            dir = arg;
        else
            return s_usage ("check takes one directory, not also \"%s\"", arg);
    }
    if (!dir)
        return s_usage ("check: name the directory of a contract set");
    s_loaded_t loaded = { NULL };
    loaded.set = fac_contract_set_new (NULL);
    fac_load_report_init (&loaded.report, S_ERRORS_KEPT);
    loaded.loaded = fac_contract_set_load_dir (loaded.set, dir, &loaded.report);
    int rc = loaded.loaded < 0 || loaded.report.count > 0 ? CTL_EXIT_ERROR_REPLY : CTL_EXIT_OK;
    if (json) {
        json_t *answer = s_loaded_json (&loaded);
        json_object_set_new (answer, "dir", json_string (dir));
        ctl_output_json_line (stdout, answer);
        json_decref (answer);
    }
    else {
        if (loaded.loaded >= 0) {
            printf ("%s: %zu contracts\n", dir, fac_contract_set_size (loaded.set));
            s_print_counts (&loaded, stdout);
        }
        if (loaded.report.count)
            s_print_errors (&loaded, stderr);
        else
            printf ("no load errors\n");
    }
    s_loaded_free (&loaded);
    return rc;
}

//  ---------------------------------------------------------------------
//  Dispatch

int
ctl_contracts_dispatch (int argc, char **argv, ctl_command_fn *caller)
{
    const char *sub = argc >= 2 ? argv [1] : "";
    size_t length = strlen (sub);
    for (const ctl_command_t *command = ctl_commands; command->name && length; command++)
        if (strcmp (command->name, argv [0]) == 0 && command->run != caller && command->usage
        &&  strncmp (command->usage, sub, length) == 0
        &&  (command->usage [length] == ' ' || command->usage [length] == '\0'))
            return command->run (argc, argv);
    return s_usage ("unknown subcommand \"%s\"", sub);
}

int
ctl_contracts (int argc, char **argv)
{
    if (argc < 2)
        return s_usage ("name a subcommand: generate or check");
    const char *sub = argv [1];
    if (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0 || strcmp (sub, "help") == 0) {
        s_help (stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp (sub, "generate") == 0)
        return s_generate (argc, argv);
    if (strcmp (sub, "check") == 0)
        return s_check (argc, argv);
    return ctl_contracts_dispatch (argc, argv, ctl_contracts);
}
