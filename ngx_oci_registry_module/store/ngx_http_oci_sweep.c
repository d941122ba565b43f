
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"


/*
 * Removes upload files nobody wrote to for longer than the upload TTL:
 * their Redis state has expired by then (each chunk renews both).  Only
 * names of an upload id's length, not followed if they are links.  System
 * calls only, no nginx API and no logging: it runs in a thread pool task
 * where there is one (a directory of millions of files must not stall a
 * worker's clients), and sw->now is the caller's clock.
 */

void
ngx_http_oci_sweep_run(ngx_http_oci_sweep_t *sw)
{
    DIR            *dir;
    struct stat     st;
    struct dirent  *de;

    sw->removed = 0;
    sw->err = 0;
    sw->failed = NULL;

    dir = opendir((char *) sw->dir);
    if (dir == NULL) {
        if (errno != ENOENT) {
            sw->err = errno;
            sw->failed = "opendir()";
        }

        return;
    }

    for ( ;; ) {
        errno = 0;

        de = readdir(dir);
        if (de == NULL) {
            break;
        }

        if (ngx_strlen(de->d_name) != NGX_HTTP_OCI_UPLOAD_ID_LEN) {
            continue;
        }

        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1
            || sw->now - st.st_mtime <= sw->ttl)
        {
            continue;
        }

        if (unlinkat(dirfd(dir), de->d_name, 0) == -1) {
            if (sw->err == 0) {
                sw->err = errno;
                sw->failed = "unlink()";
            }

            continue;
        }

        sw->removed++;
    }

    (void) closedir(dir);
}
