/* lf-api-reference: prints the generated parts of docs/api.md.
 *
 *   lf-api-reference routes   the route table (Markdown)
 *   lf-api-reference config   the `api:` configuration reference (Markdown)
 *
 * The unit tests check that docs/api.md contains exactly this output. */
#include "lf_api.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "routes") == 0) {
        lf_api_write_reference(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "config") == 0) {
        lf_config_write_reference(stdout, lf_api_config_options, "api",
                                  "The `api:` section of lianfangd.yaml: the HTTP API and "
                                  "dashboard server.");
        return 0;
    }
    fprintf(stderr, "usage: %s routes|config\n", argv[0]);
    return 2;
}
