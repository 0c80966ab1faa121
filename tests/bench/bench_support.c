/*  bench_support — helpers the benchmarks of farfan services share
    (see bench_support.h).
*/
#include "bench_support.h"
#include "ff_heap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

ff_bench_t *
ff_bench_start (const char *suite, int argc, char **argv, int *exit_code)
{
    ff_bench_t *bench = ff_bench_new (suite);
    if (!bench) {
        *exit_code = 1;
        return NULL;
    }
    int rc = ff_bench_args (bench, argc, argv);
    if (rc) {
        ff_bench_destroy (&bench);
        *exit_code = rc == 1 ? 0 : 2;
        return NULL;
    }
    //  The daemons' heap policy (ff_heap), for the services and the raw
    //  baselines alike; FF_BENCH_HEAP_RETAIN_MB=0 measures without it.
    const char *retain = getenv ("FF_BENCH_HEAP_RETAIN_MB");
    char *end = NULL;
    long long megabytes = retain ? strtoll (retain, &end, 10) : FF_HEAP_RETAIN_DEFAULT_MB;
    if ((retain && (end == retain || *end)) || ff_heap_retain (megabytes) < 0) {
        fprintf (stderr, "%s: FF_BENCH_HEAP_RETAIN_MB %s: not 0..%d\n", suite, retain,
                 FF_HEAP_RETAIN_MAX_MB);
        ff_bench_destroy (&bench);
        *exit_code = 2;
        return NULL;
    }
    *exit_code = 0;
    return bench;
}

char *
ff_bench_dir_new (const char *what)
{
    char *dir = (char *) malloc (strlen (what) + 32);
    if (!dir)
        return NULL;
    sprintf (dir, "/tmp/farfan-bench-%s-XXXXXX", what);
    if (!mkdtemp (dir)) {
        int saved = errno;
        free (dir);
        errno = saved;
        return NULL;
    }
    return dir;
}

//  Removes path and everything under it.
static void
s_remove_tree (const char *path)
{
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        char child [1024];
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

void
ff_bench_dir_destroy (char **dir_p)
{
    if (dir_p && *dir_p) {
        s_remove_tree (*dir_p);
        free (*dir_p);
        *dir_p = NULL;
    }
}

char **
ff_bench_ids_new (const char *prefix, size_t count, int digits)
{
    char **ids = (char **) calloc (count ? count : 1, sizeof (char *));
    size_t size = strlen (prefix) + (size_t) digits + 24;
    for (size_t i = 0; ids && i < count; i++) {
        ids [i] = (char *) malloc (size);
        if (!ids [i]) {
            ff_bench_ids_destroy (ids, i);
            return NULL;
        }
        snprintf (ids [i], size, "%s_%0*zu", prefix, digits, i);
    }
    return ids;
}

void
ff_bench_ids_destroy (char **ids, size_t count)
{
    for (size_t i = 0; ids && i < count; i++)
        free (ids [i]);
    free (ids);
}

char *
ff_bench_http_get (int port, const char *path, int timeout_ms)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct timeval timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    char request [512];
    int length = snprintf (request, sizeof request, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
                           path);
    size_t size = 0, capacity = 16384;
    char *response = NULL;
    if (length < 0 || (size_t) length >= sizeof request
    ||  connect (fd, (struct sockaddr *) &address, sizeof address) != 0
    ||  write (fd, request, (size_t) length) != length
    ||  !(response = (char *) malloc (capacity)))
        goto done;
    ssize_t got;
    while ((got = read (fd, response + size, capacity - size - 1)) > 0) {
        size += (size_t) got;
        if (capacity - size < 4096) {
            char *grown = (char *) realloc (response, capacity * 2);
            if (!grown)
                break;
            response = grown;
            capacity *= 2;
        }
    }
    response [size] = '\0';
    int status = 0;
    char *body = strstr (response, "\r\n\r\n");
    if (got < 0 || sscanf (response, "HTTP/1.%*d %d", &status) != 1 || status != 200 || !body) {
        free (response);
        response = NULL;
        goto done;
    }
    memmove (response, body + 4, strlen (body + 4) + 1);
done:
    close (fd);
    return response;
}

double
ff_bench_metric (const char *page, const char *series)
{
    size_t length = strlen (series);
    for (const char *line = page; line && *line; ) {
        if (strncmp (line, series, length) == 0 && line [length] == ' ')
            return strtod (line + length + 1, NULL);
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return NAN;
}

double
ff_bench_metric_sum (const char *page, const char *name, const char *labels)
{
    size_t length = strlen (name);
    double sum = 0;
    for (const char *line = page; line && *line; ) {
        const char *end = strchr (line, '\n');
        if (strncmp (line, name, length) == 0 && line [length] == '{') {
            const char *close = strchr (line + length, '}');
            const char *found = strstr (line + length, labels);
            if (close && found && found < close && (!end || close < end))
                sum += strtod (close + 2, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    return sum;
}

double
ff_bench_metric_get (int port, const char *series, int timeout_ms)
{
    char *page = ff_bench_http_get (port, "/metrics", timeout_ms);
    double value = page ? ff_bench_metric (page, series) : NAN;
    free (page);
    return value;
}

uint64_t
ff_bench_cpu_ns (void)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage) != 0)
        return 0;
    return ((uint64_t) usage.ru_utime.tv_sec + (uint64_t) usage.ru_stime.tv_sec) * 1000000000ull
         + ((uint64_t) usage.ru_utime.tv_usec + (uint64_t) usage.ru_stime.tv_usec) * 1000ull;
}

int
ff_bench_threads (pid_t *tids, size_t max)
{
    DIR *dir = opendir ("/proc/self/task");
    if (!dir)
        return -1;
    size_t count = 0;
    struct dirent *entry;
    while (count < max && (entry = readdir (dir))) {
        char *end = NULL;
        long tid = strtol (entry->d_name, &end, 10);
        if (end != entry->d_name && *end == '\0' && tid > 0)
            tids [count++] = (pid_t) tid;
    }
    closedir (dir);
    return (int) count;
}

uint64_t
ff_bench_threads_cpu_ns (const pid_t *tids, size_t count)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        char path [64];
        snprintf (path, sizeof path, "/proc/self/task/%d/schedstat", (int) tids [i]);
        FILE *file = fopen (path, "r");
        unsigned long long ns = 0;
        if (file) {
            if (fscanf (file, "%llu", &ns) != 1)
                ns = 0;
            fclose (file);
        }
        sum += ns;
    }
    return sum;
}
