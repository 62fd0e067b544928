#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

static bool stdin_used;

/* Terminal state to put back if a signal arrives while echo is off. Only touched by the prompt
 * and the handler; the handler restores, then re-raises with the default action. */
static struct termios tty_saved;
static volatile sig_atomic_t tty_dirty;

static void tty_restore_handler(int sig)
{
    if (tty_dirty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

bool cli_input_is_tty(void)
{
    return isatty(STDIN_FILENO) == 1;
}

void cli_secret_free(char *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len + 1);
    free(p);
}

int cli_secret_strdup(const char *s, size_t len, char **out)
{
    char *p = malloc(len + 1);

    *out = NULL;
    if (!p)
        return TR_E_NOMEM;
    memcpy(p, s, len);
    p[len] = '\0';
    *out = p;
    return TR_OK;
}

/* Grow a wiped-on-free buffer: realloc would leave the old copy behind unwiped. */
static int sbuf_grow(char **buf, size_t len, size_t *cap, size_t want)
{
    size_t ncap = *cap ? *cap : 4096;
    char *n;

    while (ncap < want) {
        if (ncap > CLI_INPUT_MAX)
            return TR_E_TOO_LARGE;
        ncap *= 2;
    }
    if (ncap == *cap)
        return TR_OK;
    if (!(n = malloc(ncap)))
        return TR_E_NOMEM;
    if (*buf) {
        memcpy(n, *buf, len);
        OPENSSL_cleanse(*buf, *cap);
        free(*buf);
    }
    *buf = n;
    *cap = ncap;
    return TR_OK;
}

/* Shrink to exactly len + 1 bytes so cli_secret_free's length rule holds. */
static int sbuf_finish(char *buf, size_t len, size_t cap, char **out, size_t *out_len)
{
    int rc = cli_secret_strdup(buf ? buf : "", len, out);

    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    if (rc == TR_OK)
        *out_len = len;
    return rc;
}

static int read_fd_all(int fd, char **out, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = TR_E_IO;

    *out = NULL;
    *out_len = 0;
    for (;;) {
        if (len + 1 >= cap && (rc = sbuf_grow(&buf, len, &cap, len + 4096)) != TR_OK)
            goto out;
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = TR_E_IO;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > CLI_INPUT_MAX) {
            rc = TR_E_TOO_LARGE;
            goto out;
        }
    }
    rc = sbuf_finish(buf, len, cap, out, out_len);
    buf = NULL;
out:
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    return rc;
}

int cli_input_stdin(char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (stdin_used)
        return TR_E_STATE;
    stdin_used = true;
    return read_fd_all(STDIN_FILENO, out, out_len);
}

int cli_input_line(char **out, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = cli_input_stdin(&buf, &len)) != TR_OK)
        return rc;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        buf[--len] = '\0';
    if (len == 0 || memchr(buf, '\n', len)) {
        cli_secret_free(buf, len);
        return TR_E_INVAL;
    }
    /* The allocation is still the original size: copy so the len + 1 rule holds. */
    rc = cli_secret_strdup(buf, len, out);
    if (rc == TR_OK)
        *out_len = len;
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

int cli_input_file(const char *path, char **out, size_t *out_len)
{
    int fd, rc;

    *out = NULL;
    *out_len = 0;
    if (strcmp(path, "-") == 0)
        return cli_input_stdin(out, out_len);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? TR_E_NOTFOUND : TR_E_IO;
    rc = read_fd_all(fd, out, out_len);
    close(fd);
    return rc;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int cli_input_cred(const char *path, size_t max, char **out, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0, b = 0, e;
    int rc;

    *out = NULL;
    *out_len = 0;
    if ((rc = cli_input_file(path, &buf, &len)) != TR_OK)
        return rc;
    e = len;
    while (e > 0 && is_blank(buf[e - 1]))
        e--;
    while (b < e && is_blank(buf[b]))
        b++;
    if (e == b || memchr(buf + b, '\0', e - b))
        rc = TR_E_INVAL;
    else if (e - b > max)
        rc = TR_E_TOO_LARGE;
    else if ((rc = cli_secret_strdup(buf + b, e - b, out)) == TR_OK)
        *out_len = e - b;
    cli_secret_free(buf, len);
    return rc;
}

static int prompt_read(char *line, size_t *len)
{
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return TR_E_IO;
        if (n == 0)
            return *len ? TR_OK : TR_E_IO;
        if (c == '\n')
            return TR_OK;
        if (*len + 1 >= CLI_PROMPT_MAX)
            return TR_E_TOO_LARGE;
        line[(*len)++] = c;
    }
}

int cli_input_prompt(const char *prompt, char **out, size_t *out_len)
{
    /* Fixed-size and wiped below; reads go straight to the fd so no stdio buffer keeps a copy. */
    char line[CLI_PROMPT_MAX];
    struct termios quiet;
    struct sigaction sa, old_int, old_term, old_hup;
    size_t len = 0;
    int rc = TR_E_STATE;

    *out = NULL;
    *out_len = 0;
    if (!cli_input_is_tty() || tcgetattr(STDIN_FILENO, &tty_saved) != 0)
        return TR_E_STATE;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tty_restore_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    quiet = tty_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    quiet.c_lflag |= ECHONL;
    fputs(prompt, stderr);
    fflush(stderr);
    tty_dirty = 1;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        rc = TR_E_IO;
        goto out;
    }
    if ((rc = prompt_read(line, &len)) != TR_OK)
        goto out;
    if ((rc = cli_secret_strdup(line, len, out)) != TR_OK)
        goto out;
    *out_len = len;
    rc = TR_OK;
out:
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
    tty_dirty = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}
