/* The transit secrets engine (issue #7). Not implemented yet: every path answers 404, the
 * mount type is accepted so the mount table round-trips. */
#include "api_int.h"

void api_transit_handle(struct api_call *c)
{
    api_reply_error(c, 404, "transit is not implemented yet");
}
