/* A stand-in librados.so.2.  Stands for the librados of the release named by the
 * -DRADOS_MAJOR/-DRADOS_MINOR/-DRADOS_EXTRA and -DDEFAULT_FEATURES/-DDEFAULT_FORMAT macros,
 * whose values the test builder takes from librbd_probe/data/releases.json (upstream
 * src/include/rados/librados.h LIBRADOS_VER_* and the rbd_default_* option defaults at
 * that release's tag).  It implements only what the probe calls offline: rados_version,
 * rados_create, rados_conf_read_file (a small ceph.conf reader: [global], [client],
 * [client.<id>]; spaces and underscores in keys are equivalent, as in ConfUtils.cc),
 * rados_conf_get (-ENOENT for unknown keys, -ENAMETOOLONG for a short buffer, like
 * librados) and rados_shutdown.  Every other declared function is generated as -ENOSYS.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RADOS_MAJOR
#define RADOS_MAJOR 0
#define RADOS_MINOR 0
#define RADOS_EXTRA 0
#endif
#ifndef DEFAULT_FEATURES
#define DEFAULT_FEATURES "3"
#endif
#ifndef DEFAULT_FORMAT
#define DEFAULT_FORMAT "1"
#endif

struct stub_cluster {
    char name[128];
    char features[256];
    char format[32];
};

void rados_version(int *major, int *minor, int *extra)
{
    *major = RADOS_MAJOR;
    *minor = RADOS_MINOR;
    *extra = RADOS_EXTRA;
}

int rados_create(void **cluster, const char *id)
{
    struct stub_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    snprintf(c->name, sizeof(c->name), "client.%s", id ? id : "admin");
    snprintf(c->features, sizeof(c->features), "%s", DEFAULT_FEATURES);
    snprintf(c->format, sizeof(c->format), "%s", DEFAULT_FORMAT);
    *cluster = c;
    return 0;
}

static void normalize(char *key)
{
    char *out = key;
    int last_sep = 0;
    for (char *in = key; *in; in++) {
        int sep = (*in == ' ' || *in == '_' || *in == '\t');
        if (sep) {
            if (!last_sep && out != key)
                *out++ = '_';
        } else {
            *out++ = (char)tolower((unsigned char)*in);
        }
        last_sep = sep;
    }
    while (out > key && out[-1] == '_')
        out--;
    *out = 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = 0;
    return s;
}

/* Section priority as librados applies it: [client.<id>] over [client] over [global]. */
int rados_conf_read_file(void *cluster, const char *path)
{
    struct stub_cluster *c = cluster;
    FILE *f = fopen(path ? path : "/etc/ceph/ceph.conf", "r");
    if (!f)
        return -ENOENT;
    char line[1024], section[256] = "global";
    int best_features = -1, best_format = -1;
    while (fgets(line, sizeof(line), f)) {
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end)
                *end = 0;
            snprintf(section, sizeof(section), "%s", trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            continue;
        *eq = 0;
        char key[256];
        snprintf(key, sizeof(key), "%s", trim(s));
        normalize(key);
        char *value = trim(eq + 1);
        char *comment = strpbrk(value, "#;");
        if (comment)
            *comment = 0;
        value = trim(value);
        int rank = strcmp(section, c->name) == 0 ? 3 : strcmp(section, "client") == 0 ? 2 :
                   strcmp(section, "global") == 0 ? 1 : 0;
        if (!rank)
            continue;
        if (strcmp(key, "rbd_default_features") == 0 && rank >= best_features) {
            snprintf(c->features, sizeof(c->features), "%s", value);
            best_features = rank;
        } else if (strcmp(key, "rbd_default_format") == 0 && rank >= best_format) {
            snprintf(c->format, sizeof(c->format), "%s", value);
            best_format = rank;
        }
    }
    fclose(f);
    return 0;
}

int rados_conf_parse_env(void *cluster, const char *var)
{
    (void)cluster; (void)var;
    return 0;
}

int rados_conf_get(void *cluster, const char *option, char *buf, size_t len)
{
    struct stub_cluster *c = cluster;
    char key[256];
    const char *value;
    snprintf(key, sizeof(key), "%s", option);
    normalize(key);
    if (strcmp(key, "rbd_default_features") == 0)
        value = c->features;
    else if (strcmp(key, "rbd_default_format") == 0)
        value = c->format;
    else
        return -ENOENT;
    if (strlen(value) + 1 > len)
        return -ENAMETOOLONG;
    strcpy(buf, value);
    return 0;
}

void rados_shutdown(void *cluster)
{
    free(cluster);
}
