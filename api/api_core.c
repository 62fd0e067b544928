/* Lifecycle glue between the trusted core and storage. */
#include "api_int.h"

void api_core_after_unseal(struct api *api)
{
    (void)api; /* storage/ is not wired in yet: nothing to open */
}
