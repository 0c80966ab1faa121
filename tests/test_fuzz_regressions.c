/*  test_fuzz_regressions — each input a fuzzer of tests/fuzz/ found
    crashing or misbehaving, replayed through the same path against the
    fixed code (tests/fuzz/README.md lists them). Under the ASan + UBSan
    build (-fno-sanitize-recover=all) the original defects abort. */
#include <criterion/criterion.h>
#include <string.h>

#include "factory.pb-c.h"
#include "orchestrator.pb-c.h"
#include "ff_test.h"

//  fuzz_rpc: PUT_DOCUMENT with an empty body (content absent, so its data
//  pointer is NULL) reached memcpy (NULL, 0) in fac_engine_put_document:
//  undefined behaviour (services/factory/fac_engine.c). An empty document
//  is stored like any other: the digest of no bytes, size 0.
FF_TEST (fuzz_regressions, empty_put_document_is_stored)
{
    ff_test_service_t *factory = ff_test_service_start ("factory", NULL);
    zsock_t *dealer = ff_test_dealer (ff_test_service_endpoint (factory, "direct"));
    bool already = true;
    char *digest = ff_test_put_document (dealer, NULL, 0, &already);
    cr_assert_str_eq (digest,
                      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_assert_not (already);
    free (digest);
    //  Stored: the same again is already present.
    digest = ff_test_put_document (dealer, NULL, 0, &already);
    cr_assert (already);
    free (digest);
    ff_test_assert_pings (dealer);
    zsock_destroy (&dealer);
    ff_test_service_stop (&factory);
}


//  fuzz_rpc: LIST with limit 0xfffffff4 made the orchestrator calloc an
//  array of that many run pointers (32 GiB: libFuzzer's out-of-memory,
//  services/orchestrator/orc_engine.c). A limit beyond ORC_LIST_MAX is
//  taken as ORC_LIST_MAX; the reply is the list there is.
FF_TEST (fuzz_regressions, huge_list_limit_is_bounded)
{
    ff_test_service_t *orchestrator = ff_test_service_start ("orchestrator", NULL);
    zsock_t *client = ff_test_dealer (ff_test_service_endpoint (orchestrator, "client"));
    const uint32_t limits [] = { 0xfffffff4u, UINT32_MAX, 10001, 0 };
    for (size_t i = 0; i < sizeof limits / sizeof limits [0]; i++) {
        Farfan__ListRequest request = FARFAN__LIST_REQUEST__INIT;
        request.limit = limits [i];
        Farfan__RunList *list = (Farfan__RunList *) ff_test_call_decoded (
            client, FARFAN__MESSAGE_TYPE__LIST, &request.base, FARFAN__MESSAGE_TYPE__RUN_LIST,
            &farfan__run_list__descriptor);
        cr_assert_eq (list->n_runs, 0, "limit %u: %zu runs in a new store", limits [i],
                      list->n_runs);
        farfan__run_list__free_unpacked (list, NULL);
    }
    ff_test_assert_pings (client);
    zsock_destroy (&client);
    ff_test_service_stop (&orchestrator);
}

//  ---------------------------------------------------------------------
//  The committed seed corpora, replayed in every build (the fuzz build
//  needs clang): each input ends in a decoded value or a stated error.

#include <dirent.h>

#include "fac_contract.h"
#include "ff_signal.h"

typedef void (s_replay_fn) (const uint8_t *data, size_t size, const char *name);

static size_t
s_replay (const char *target, s_replay_fn *replay)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/tests/fuzz/corpus/%s", FF_TEST_SOURCE_ROOT, target);
    DIR *dir = opendir (path);
    cr_assert_not_null (dir, "%s: cannot open", path);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char file [1280];
        snprintf (file, sizeof file, "%s/%s", path, entry->d_name);
        size_t size = 0;
        char *data = ff_test_read_file (file, &size);
        cr_assert_not_null (data, "%s: cannot read", file);
        replay ((const uint8_t *) data, size, entry->d_name);
        free (data);
        count++;
    }
    closedir (dir);
    return count;
}

//  As fuzz_signal frames its input: [topic length][topic][map].
static void
s_replay_signal (const uint8_t *data, size_t size, const char *name)
{
    cr_assert_gt (size, 0, "%s: empty", name);
    size_t topic_size = data [0];
    cr_assert_leq (topic_size, size - 1, "%s: topic beyond the input", name);
    ff_signal_t signal;
    char detail [256] = "";
    ff_signal_error_t rc = ff_signal_decode_frames (&signal, data + 1, topic_size,
                                                    data + 1 + topic_size, size - 1 - topic_size,
                                                    detail, sizeof detail);
    cr_assert (rc == FF_SIGNAL_OK || *detail, "%s: %s without a detail", name,
               ff_signal_error_name (rc));
    //  The seeds are signals ff_signal_encode wrote: all valid but the one
    //  whose topic frame differs from its type.
    cr_assert_eq (rc, strstr (name, "topic-mismatch") ? FF_SIGNAL_ERR_TOPIC : FF_SIGNAL_OK,
                  "%s: %s: %s", name, ff_signal_error_name (rc), detail);
}

static void
s_replay_contract (const uint8_t *data, size_t size, const char *name)
{
    fac_contract_set_t *set = fac_contract_set_new (NULL);
    fac_load_report_t report;
    fac_load_report_init (&report, 4);
    int added = fac_contract_set_add_json (set, (const char *) data, size, name, &report);
    cr_assert (added > 0 || report.count > 0, "%s: nothing loaded and no error", name);
    fac_load_report_free (&report);
    fac_contract_set_destroy (&set);
}

FF_TEST (fuzz_regressions, seed_corpora_decode)
{
    cr_assert_gt (s_replay ("fuzz_signal", s_replay_signal), 0);
    cr_assert_gt (s_replay ("fuzz_contract", s_replay_contract), 0);
}
