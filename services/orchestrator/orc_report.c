/*  orc_report — see orc_report.h. */
#include "orc_report.h"

#include <czmq.h>
#include <jansson.h>
#include <math.h>

static const char *s_run_states [] = { "unspecified", "queued", "running", "succeeded",
                                       "failed", "cancelled" };
static const char *s_phase_states [] = { "unspecified", "pending", "aligning", "running",
                                         "succeeded", "failed", "skipped", "cancelled" };
static const char *s_result_states [] = { "unspecified", "ok", "failed", "timeout", "skipped" };

#define S_NAME(table, value) \
    ((size_t) (value) < sizeof (table) / sizeof (table) [0] ? (table) [value] : "unknown")

//  A report produced by the run's own P09 contract, if any: its output
//  object's "report" member holds one string per format.
static char *
s_contract_report (Farfan__ContractResult *const *results, const int *phases, size_t count,
                   const char *format, size_t *size)
{
    for (size_t i = 0; i < count; i++) {
        if (phases [i] != 9 || results [i]->status != FARFAN__RESULT_STATUS__RESULT_OK
        ||  !*results [i]->output_json)
            continue;
        json_t *output = json_loads (results [i]->output_json, 0, NULL);
        json_t *report = NULL;
        const char *key;
        json_t *value;
        json_object_foreach (output, key, value) {
            //  The method's own key (e.g. "report.assemble") holds its output.
            json_t *candidate = json_object_get (json_object_get (value, "report"), format);
            if (json_is_string (candidate))
                report = candidate;
        }
        char *text = report ? strdup (json_string_value (report)) : NULL;
        if (text)
            *size = strlen (text);
        json_decref (output);
        if (text)
            return text;
    }
    return NULL;
}

static json_t *
s_result_json (const Farfan__ContractResult *result, int phase)
{
    json_t *evidence = json_array ();
    for (size_t e = 0; e < result->n_evidence; e++) {
        const Farfan__Evidence *item = result->evidence [e];
        json_t *matches = json_array ();
        for (size_t m = 0; m < item->n_matches; m++)
            json_array_append_new (matches, json_pack ("{s:I, s:i, s:s, s:s}",
                "offset", (json_int_t) item->matches [m]->offset,
                "length", (int) item->matches [m]->length,
                "text", item->matches [m]->text, "pattern_id", item->matches [m]->pattern_id));
        json_array_append_new (evidence, json_pack ("{s:s, s:i, s:i, s:b, s:b, s:o}",
            "element_type", item->element_type, "count", (int) item->count,
            "minimum", (int) item->minimum, "required", item->required,
            "satisfied", item->satisfied, "matches", matches));
    }
    char phase_name [8];
    snprintf (phase_name, sizeof phase_name, "P%02d", phase);
    json_t *object = json_pack ("{s:s, s:s, s:s, s:f, s:s, s:f, s:f, s:o, s:b, s:I}",
        "contract_id", result->contract_id, "phase", phase_name,
        "status", S_NAME (s_result_states, result->status), "score", result->score,
        "quality", result->quality, "ratio", result->ratio, "confidence", result->confidence,
        "evidence", evidence, "from_cache", result->from_cache,
        "duration_us", (json_int_t) result->duration_us);
    if (*result->error)
        json_object_set_new (object, "error", json_string (result->error));
    if (*result->output_json) {
        json_t *output = json_loads (result->output_json, 0, NULL);
        if (output)
            json_object_set_new (object, "output", output);
    }
    return object;
}

static char *
s_render_json (const Farfan__RunStatus *status, Farfan__ContractResult *const *results,
               const int *phases, size_t count)
{
    json_t *phase_list = json_array ();
    for (size_t p = 0; p < status->n_phases; p++) {
        const Farfan__PhaseStatus *phase = status->phases [p];
        json_array_append_new (phase_list, json_pack ("{s:s, s:s, s:i, s:i, s:i}",
            "phase", phase->phase, "state", S_NAME (s_phase_states, phase->state),
            "total", (int) phase->total, "done", (int) phase->done, "failed", (int) phase->failed));
    }
    json_t *result_list = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (result_list, s_result_json (results [i], phases [i]));
    json_t *report = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}",
        "run_id", status->run_id, "name", status->name,
        "state", S_NAME (s_run_states, status->state), "error", status->error,
        "document_digest", status->document_digest,
        "contract_set_digest", status->contract_set_digest,
        "phases", phase_list, "results", result_list);
    char *text = json_dumps (report, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    json_decref (report);
    return text;
}

//  A growing text buffer.
typedef struct {
    char *data;
    size_t size;
    size_t capacity;
} s_text_t;

static void
s_append (s_text_t *text, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_append (s_text_t *text, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int needed = vsnprintf (NULL, 0, format, args);
    va_end (args);
    if (needed < 0)
        return;
    if (text->size + (size_t) needed + 1 > text->capacity) {
        size_t capacity = (text->capacity ? text->capacity * 2 : 4096) + (size_t) needed;
        char *grown = (char *) realloc (text->data, capacity);
        if (!grown)
            return;
        text->data = grown;
        text->capacity = capacity;
    }
    va_start (args, format);
    vsnprintf (text->data + text->size, text->capacity - text->size, format, args);
    va_end (args);
    text->size += (size_t) needed;
}

//  Escapes text for HTML (or, for Markdown table cells, pipes and newlines).
static char *
s_escape (const char *text, bool html)
{
    size_t length = strlen (text);
    char *out = (char *) malloc (6 * length + 1);
    if (!out)
        return strdup ("");
    char *cursor = out;
    for (const char *c = text; *c; c++) {
        const char *replacement = NULL;
        if (html && *c == '<')
            replacement = "&lt;";
        else
        if (html && *c == '>')
            replacement = "&gt;";
        else
        if (html && *c == '&')
            replacement = "&amp;";
        else
        if (html && *c == '"')
            replacement = "&quot;";
        else
        if (!html && *c == '|')
            replacement = "\\|";
        else
        if (*c == '\n' || *c == '\r')
            replacement = " ";
        if (replacement) {
            size_t n = strlen (replacement);
            memcpy (cursor, replacement, n);
            cursor += n;
        }
        else
            *cursor++ = *c;
    }
    *cursor = '\0';
    return out;
}

//  "fuentes_oficiales 3/2 ("DANE" @120, ...)" for each element.
static void
s_evidence_cell (s_text_t *text, const Farfan__ContractResult *result, bool html)
{
    for (size_t e = 0; e < result->n_evidence; e++) {
        const Farfan__Evidence *item = result->evidence [e];
        char *type = s_escape (item->element_type, html);
        s_append (text, "%s%s %u/%u", e ? (html ? "<br>" : "; ") : "", type, item->count,
                  item->minimum ? item->minimum : (item->required ? 1u : 0u));
        free (type);
        for (size_t m = 0; m < item->n_matches && m < 2; m++) {
            char *quote = s_escape (item->matches [m]->text, html);
            s_append (text, "%s\"%s\" @%llu", m ? ", " : " (", quote,
                      (unsigned long long) item->matches [m]->offset);
            free (quote);
        }
        if (item->n_matches)
            s_append (text, ")");
    }
}

static char *
s_render_text (const Farfan__RunStatus *status, Farfan__ContractResult *const *results,
               const int *phases, size_t count, bool html)
{
    s_text_t text = { 0 };
    char *name = s_escape (status->name, html);
    if (html)
        s_append (&text, "<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\">"
                  "<title>FARFAN report: %s</title><style>body{font-family:sans-serif;margin:2em}"
                  "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
                  "padding:.3em .6em;vertical-align:top}th{background:#eee}"
                  ".ok{color:#060}.failed,.timeout{color:#a00}</style></head><body>\n"
                  "<h1>FARFAN report: %s</h1>\n", name, name);
    else
        s_append (&text, "# FARFAN report: %s\n\n", name);
    free (name);
    s_append (&text, html ? "<p>Run <code>%s</code>: <b>%s</b>%s%s. Document <code>%s</code>, "
                            "contract set <code>%s</code>.</p>\n"
                          : "Run `%s`: **%s**%s%s. Document `%s`, contract set `%s`.\n\n",
              status->run_id, S_NAME (s_run_states, status->state),
              *status->error ? " — " : "", status->error, status->document_digest,
              status->contract_set_digest);
    for (size_t p = 0; p < status->n_phases; p++) {
        const Farfan__PhaseStatus *phase = status->phases [p];
        int number = atoi (phase->phase + 1);
        s_append (&text, html ? "<h2>%s: %s (%u of %u done, %u failed)</h2>\n"
                              : "## %s: %s (%u of %u done, %u failed)\n\n",
                  phase->phase, S_NAME (s_phase_states, phase->state), phase->done,
                  phase->total, phase->failed);
        bool any = false;
        for (size_t i = 0; i < count; i++) {
            if (phases [i] != number)
                continue;
            const Farfan__ContractResult *result = results [i];
            if (!any) {
                s_append (&text, html ? "<table><tr><th>Contract</th><th>Status</th><th>Score</th>"
                                        "<th>Quality</th><th>Evidence (found/needed, first quotes @offset)</th></tr>\n"
                                      : "| Contract | Status | Score | Quality | Evidence (found/needed, first quotes @offset) |\n"
                                        "| --- | --- | --- | --- | --- |\n");
                any = true;
            }
            const char *state = S_NAME (s_result_states, result->status);
            char *error = s_escape (result->error, html);
            if (html)
                s_append (&text, "<tr><td>%s</td><td class=\"%s\">%s%s%s</td><td>%.2f</td><td>%s</td><td>",
                          result->contract_id, state, state, *error ? ": " : "", error,
                          result->score, result->quality);
            else
                s_append (&text, "| %s | %s%s%s | %.2f | %s | ", result->contract_id, state,
                          *error ? ": " : "", error, result->score, result->quality);
            free (error);
            s_evidence_cell (&text, result, html);
            s_append (&text, html ? "</td></tr>\n" : " |\n");
        }
        if (any)
            s_append (&text, html ? "</table>\n" : "\n");
    }
    if (html)
        s_append (&text, "</body></html>\n");
    return text.data;
}

char *
orc_report_render (const Farfan__RunStatus *status, Farfan__ContractResult *const *results,
                   const int *phases, size_t count, const char *format,
                   const char **media_type, size_t *size, char *err, size_t err_size)
{
    if (!format || !*format)
        format = "json";
    if (strcmp (format, "json") == 0)
        *media_type = "application/json";
    else
    if (strcmp (format, "markdown") == 0)
        *media_type = "text/markdown; charset=utf-8";
    else
    if (strcmp (format, "html") == 0)
        *media_type = "text/html; charset=utf-8";
    else {
        snprintf (err, err_size, "unknown report format \"%s\" (json, markdown, html)", format);
        return NULL;
    }
    char *text = s_contract_report (results, phases, count, format, size);
    if (text)
        return text;
    if (strcmp (format, "json") == 0)
        text = s_render_json (status, results, phases, count);
    else
        text = s_render_text (status, results, phases, count, strcmp (format, "html") == 0);
    if (!text) {
        snprintf (err, err_size, "out of memory rendering the report");
        return NULL;
    }
    *size = strlen (text);
    return text;
}
