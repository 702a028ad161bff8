/* golden.c - golden case loader (annotated hex with literal text lines). */
#include "golden.h"
#include "base/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int kt_golden_load(const char *name, kite_buf *out)
{
    const char *src = getenv("KITE_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/%s", src && *src ? src : ".", name);
    char *text;
    size_t len;
    if (kite_file_read_all(path, 1 << 24, &text, &len) != 0) {
        fprintf(stderr, "golden: cannot read %s\n", path);
        return -1;
    }
    const char *ext = strrchr(name, '.');
    if (!ext || (strcmp(ext, ".frame") != 0 && strcmp(ext, ".raw") != 0)) {
        kite_buf_append(out, text, len);
        free(text);
        return 0;
    }
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '>' && line[1] == ' ') {
            kite_buf_puts(out, line + 2);
            continue;
        }
        for (char *p = line; *p && *p != '#';) {
            if (*p == ' ' || *p == '\t' || *p == '\r') {
                p++;
                continue;
            }
            int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "golden: %s: bad hex near '%s'\n", name, p);
                rc = -1;
                break;
            }
            kite_buf_putc(out, (char)(hi * 16 + lo));
            p += 2;
        }
    }
    free(text);
    return rc;
}
