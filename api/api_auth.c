/* Auth methods other than tokens (issue #8). Not implemented yet: login and method paths
 * answer 404 and sys/auth lists only the token method. */
#include "api_int.h"

#include <string.h>

void api_auth_login(struct api_call *c)
{
    api_reply_error(c, 404, NULL);
}

void api_auth_handle(struct api_call *c)
{
    api_reply_error(c, 404, NULL);
}

void api_sys_auth(struct api_call *c)
{
    if (c->method != API_GET || strcmp(c->path, "sys/auth") != 0) {
        api_reply_error(c, 405, "unsupported operation");
        return;
    }
    api_reply_data_top(c, json_pack("{s:{s:s, s:s, s:s}}", "token/", "type", "token", "description",
                                    "token based credentials", "accessor", "auth_token"));
}
