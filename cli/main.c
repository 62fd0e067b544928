/*
 * tresor - the Tresor command-line client. A thin HTTP client: it links no server code.
 */
#include <stdio.h>
#include <string.h>

#define TRESOR_CLI_VERSION "0.1.0"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: tresor <command> [args]\n\n"
                "commands:\n"
                "  version    print the client version\n\n"
                "Environment: TRESOR_ADDR (default https://127.0.0.1:8200), TRESOR_TOKEN,\n"
                "TRESOR_CACERT; VAULT_* names are accepted as aliases.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "-version")) {
        printf("tresor %s\n", TRESOR_CLI_VERSION);
        return 0;
    }
    fprintf(stderr, "tresor: unknown command '%s' (see tresor -h)\n", argv[1]);
    return 1;
}
