/*
 * tpm_sim - a real swtpm for unit tests, and a relay in front of it that can corrupt chosen
 * answers (the man in the middle on the TPM link: what a test needs to show that a response
 * HMAC catches a change, or that a lost answer is handled). Test support only; linked into the
 * unit tests, never into tresord.
 */
#ifndef TR_TPM_SIM_H
#define TR_TPM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One swtpm process: TPM port `port`, control port `port + 1`, state in `dir` (the caller's:
 * kept across restarts). tcti: the TCTI string for it, set once started. */
struct tt_swtpm {
    pid_t pid;
    int port;
    char dir[128];
    char tcti[128];
};

/* tt_swtpm_installed - swtpm is on PATH. */
bool tt_swtpm_installed(void);
/* tt_free_port_pair - a port P such that P and P+1 were both free on 127.0.0.1 a moment ago;
 * -1 if none was found. */
int tt_free_port_pair(void);
/* tt_swtpm_start - start swtpm on t->dir (fresh ports, retried on a race), wait until it
 * accepts; it dies with the test process. 0 or -1. */
int tt_swtpm_start(struct tt_swtpm *t);
/* tt_swtpm_stop - send sig and reap it. No-op if it is not running. */
void tt_swtpm_stop(struct tt_swtpm *t, int sig);

/* Flip the lowest bit of this byte of an answer: the last one, i.e. the response HMAC's. */
#define TT_FLIP_LAST SIZE_MAX

struct tt_relay;

/* tt_relay_start - relay 127.0.0.1:P (TPM) and P+1 (control) to target and target + 1.
 * 0 or -1. tt_relay_stop joins every thread it started before it closes anything (a later
 * fork() must not catch one inside malloc). NULL-safe. */
int tt_relay_start(int target, struct tt_relay **out);
void tt_relay_stop(struct tt_relay *r);
/* tt_relay_port - P: point the TCTI at "swtpm:host=127.0.0.1,port=P". */
int tt_relay_port(const struct tt_relay *r);
/* tt_relay_flip - from now on, flip byte `at` (TT_FLIP_LAST: the last; ignored if the answer is
 * shorter) of the next `count` answers (count < 0: all) to command code cc1 or cc2 (0: none).
 * The TPM has executed the command: only its answer is changed. */
void tt_relay_flip(struct tt_relay *r, uint32_t cc1, uint32_t cc2, size_t at, int count);
/* tt_relay_flipped - answers changed so far. */
int tt_relay_flipped(const struct tt_relay *r);

#endif
