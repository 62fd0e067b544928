#include "tr_err.h"

#include <stddef.h>

struct err_entry {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_entry err_table[] = {
    {TR_OK, "TR_OK", "success"},
    {TR_E_INTERNAL, "TR_E_INTERNAL", "internal error"},
    {TR_E_NOMEM, "TR_E_NOMEM", "out of memory"},
    {TR_E_INVAL, "TR_E_INVAL", "invalid argument"},
    {TR_E_AUTH, "TR_E_AUTH", "authentication failed"},
    {TR_E_SEALED, "TR_E_SEALED", "Vault is sealed"},
    {TR_E_STATE, "TR_E_STATE", "operation not allowed in the current state"},
    {TR_E_NOTFOUND, "TR_E_NOTFOUND", "not found"},
    {TR_E_EXISTS, "TR_E_EXISTS", "already exists"},
    {TR_E_TOO_LARGE, "TR_E_TOO_LARGE", "input too large"},
    {TR_E_IO, "TR_E_IO", "I/O error"},
    {TR_E_CONFIG, "TR_E_CONFIG", "invalid configuration"},
    {TR_E_TLS, "TR_E_TLS", "TLS error"},
    {TR_E_DENIED, "TR_E_DENIED", "permission denied"},
    {TR_E_ROLLBACK, "TR_E_ROLLBACK", "rollback detected"},
    {TR_E_TAMPER, "TR_E_TAMPER", "tampering detected"},
    {TR_E_NOSPACE, "TR_E_NOSPACE", "no space left on storage"},
    {TR_E_CAS, "TR_E_CAS", "check-and-set parameter did not match the current version"},
    {TR_E_TPM, "TR_E_TPM", "TPM operation failed"},
    {TR_E_BUSY, "TR_E_BUSY", "resource busy"},
    {TR_E_UNSUPPORTED, "TR_E_UNSUPPORTED", "unsupported operation"},
    {TR_E_COUNTER, "TR_E_COUNTER", "monotonic counter failure"},
    {TR_E_LIMIT, "TR_E_LIMIT", "rate limit exceeded"},
    {TR_E_TIMEOUT, "TR_E_TIMEOUT", "deadline exceeded"},
};

static const struct err_entry *err_find(int err)
{
    for (unsigned i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].code == err)
            return &err_table[i];
    return NULL;
}

const char *tr_strerror(int err)
{
    const struct err_entry *e = err_find(err);
    return e ? e->msg : "unknown error";
}

const char *tr_err_name(int err)
{
    const struct err_entry *e = err_find(err);
    return e ? e->name : "TR_E_UNKNOWN";
}
