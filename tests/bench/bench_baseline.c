/*  bench_baseline — the raw libzmq baselines every farfan benchmark is
    compared with (ff_bench_zmq.h), as a table of their own.

    Usage: bench_baseline [--scale X] [--output PATH] [--format tsv|jsonl]
                          [--timeout MS]
    Exit status: 0, 1 when a measurement failed, 2 on a bad argument.
*/
#include "ff_bench.h"
#include "ff_bench_zmq.h"

#include <stdlib.h>
#include <zmq.h>

int
main (int argc, char **argv)
{
    ff_bench_t *bench = ff_bench_new ("baseline");
    if (!bench)
        return 1;
    int rc = ff_bench_args (bench, argc, argv);
    if (rc) {
        ff_bench_destroy (&bench);
        return rc == 1? 0: 2;
    }
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    printf ("bench baseline: raw libzmq %d.%d.%d over tcp://127.0.0.1, "
            "scale %g\n", major, minor, patch, ff_bench_scale (bench));
    fflush (stdout);

    ff_bench_zmq_baselines (bench);
    rc = ff_bench_finish (bench);
    ff_bench_destroy (&bench);
    return rc? 1: 0;
}
