/*
 * cmd_completion - print a shell completion script generated from the command tree, so new
 * commands complete without touching this file.
 */
#include <string.h>

#include "commands.h"

/* Every non-leaf path as a case arm: "kv metadata") opts="get put delete";; */
static void bash_arms(FILE *fp, const struct cli_cmd *table, const char *prefix)
{
    char path[256];

    fprintf(fp, "        \"%s\") opts=\"", prefix);
    for (const struct cli_cmd *c = table; c->name; c++)
        fprintf(fp, "%s%s", c == table ? "" : " ", c->name);
    fprintf(fp, "\";;\n");
    for (const struct cli_cmd *c = table; c->name; c++) {
        if (!c->sub)
            continue;
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? " " : "", c->name);
        bash_arms(fp, c->sub, path);
    }
}

static void global_flags(FILE *fp, const struct cli_ctx *ctx, const char *sep)
{
    for (size_t i = 0; i < CLI_CONFIG_NFLAGS; i++)
        fprintf(fp, "%s-%s", i ? sep : "", ctx->cfg.flags[i].name);
}

static void print_bash(FILE *fp, const struct cli_ctx *ctx)
{
    fprintf(fp, "# bash completion for tresor: eval \"$(tresor completion bash)\"\n"
                "_tresor() {\n"
                "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" opts=\"\" i\n"
                "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
                "        case \"${COMP_WORDS[i]}\" in -*) ;; *) path=\"$path "
                "${COMP_WORDS[i]}\" ;; esac\n"
                "    done\n"
                "    path=\"${path# }\"\n"
                "    case \"$path\" in\n");
    bash_arms(fp, ctx->root, "");
    fprintf(fp, "    esac\n"
                "    if [[ \"$cur\" == -* ]]; then\n"
                "        COMPREPLY=($(compgen -W \"-h ");
    global_flags(fp, ctx, " ");
    fprintf(fp, "\" -- \"$cur\"))\n"
                "    elif [[ -n \"$opts\" ]]; then\n"
                "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
                "    else\n"
                "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
                "    fi\n"
                "}\n"
                "complete -o default -F _tresor tresor\n");
}

/* fish single-quoted string: only \ and ' need escaping. */
static void fish_quote(FILE *fp, const char *s)
{
    fputc('\'', fp);
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            fputc('\\', fp);
        fputc(*s, fp);
    }
    fputc('\'', fp);
}

static void fish_level(FILE *fp, const struct cli_cmd *table, const char *parent)
{
    for (const struct cli_cmd *c = table; c->name; c++) {
        fprintf(fp, "complete -c tresor -n ");
        if (!parent) {
            fprintf(fp, "'__fish_use_subcommand'");
        } else {
            fprintf(fp, "'__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from",
                    parent);
            for (const struct cli_cmd *d = table; d->name; d++)
                fprintf(fp, " %s", d->name);
            fputc('\'', fp);
        }
        fprintf(fp, " -a %s -d ", c->name);
        fish_quote(fp, c->summary);
        fputc('\n', fp);
    }
    for (const struct cli_cmd *c = table; c->name; c++)
        if (c->sub)
            fish_level(fp, c->sub, c->name);
}

static void print_fish(FILE *fp, const struct cli_ctx *ctx)
{
    fprintf(fp, "# fish completion for tresor: tresor completion fish | source\n"
                "complete -c tresor -f\n");
    fish_level(fp, ctx->root, NULL);
    for (size_t i = 0; i < CLI_CONFIG_NFLAGS; i++) {
        fprintf(fp, "complete -c tresor -o %s -d ", ctx->cfg.flags[i].name);
        fish_quote(fp, ctx->cfg.flags[i].help);
        fputc('\n', fp);
    }
}

int cli_cmd_completion(struct cli_ctx *ctx, int argc, char **argv)
{
    int rc;

    if ((rc = cli_cmd_parse_offline(ctx, NULL, 0, &argc, argv)) != CLI_CONTINUE)
        return rc;
    if (argc != 1)
        return cli_usage_error(ctx, "expected one of bash, zsh, fish");
    if (strcmp(argv[0], "bash") == 0) {
        print_bash(stdout, ctx);
    } else if (strcmp(argv[0], "zsh") == 0) {
        /* zsh runs the bash function through its bashcompinit compatibility layer. */
        printf("#compdef tresor\n# zsh completion for tresor: source <(tresor completion zsh)\n"
               "autoload -U +X compinit && compinit\n"
               "autoload -U +X bashcompinit && bashcompinit\n");
        print_bash(stdout, ctx);
    } else if (strcmp(argv[0], "fish") == 0) {
        print_fish(stdout, ctx);
    } else {
        return cli_usage_error(ctx, "unknown shell \"%s\" (bash, zsh or fish)", argv[0]);
    }
    return CLI_EXIT_OK;
}
