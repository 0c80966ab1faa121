/*  orc_report — a run's report as JSON, Markdown or a self-contained HTML
    page, built from its status and committed results.

    Every number in it comes from a result; every score is followed by the
    evidence behind it (element counts and the quoted matches with their
    byte offsets). When the run's P09 contract produced a report of its own
    (output "report.<format>"), that one is returned instead.
*/
#ifndef ORC_REPORT_H_INCLUDED
#define ORC_REPORT_H_INCLUDED

#include <stddef.h>

#include "orchestrator.pb-c.h"

//  Renders the report in format "json" (default when "" or NULL),
//  "markdown" or "html". results[i] belongs to phase phases[i] (0..9).
//  Returns the content (caller frees; size in *size) and its media type,
//  or NULL with the reason in err (unknown format).
char *
    orc_report_render (const Farfan__RunStatus *status, Farfan__ContractResult *const *results,
                       const int *phases, size_t count, const char *format,
                       const char **media_type, size_t *size, char *err, size_t err_size);

#endif
