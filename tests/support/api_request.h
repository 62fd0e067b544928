/*
 * api_request.h - one request through api_handle, answered before it returns: for unit tests
 * that drive the real API layer (core, LMDB store, pipeline) without sockets. Header-only
 * (static inline) so that only the tests that include it link the API layer.
 */
#ifndef TESTS_SUPPORT_API_REQUEST_H
#define TESTS_SUPPORT_API_REQUEST_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "../../api/api.h"

struct test_answer {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    int status;
    json_t *body;
};

static inline void test_answer_done(void *arg, struct api_resp *resp)
{
    struct test_answer *a = arg;

    pthread_mutex_lock(&a->mu);
    a->status = resp ? resp->status : 500;
    a->body = resp && resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    a->done = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    api_resp_free(resp);
}

/* request - method m on path with token (may be NULL) and a JSON body (may be NULL); returns the
 * status. *out_body (out_body may be NULL) is the parsed answer, owned by the caller. */
static inline int request(struct api *api, enum api_method m, const char *path, const char *token,
                          const char *body, json_t **out_body)
{
    struct test_answer a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct api_req req = {.method = m,
                          .uri_path = path,
                          .token = token,
                          .content_type = body ? "application/json" : NULL,
                          .body = (const uint8_t *)body,
                          .body_len = body ? strlen(body) : 0,
                          .remote_ip = "127.0.0.1"};

    api_handle(api, &req, test_answer_done, &a);
    pthread_mutex_lock(&a.mu);
    while (!a.done)
        pthread_cond_wait(&a.cond, &a.mu);
    pthread_mutex_unlock(&a.mu);
    if (out_body)
        *out_body = a.body;
    else
        json_decref(a.body);
    return a.status;
}

#endif
