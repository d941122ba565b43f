
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_SHIM_H_INCLUDED_
#define _NGX_SHIM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_pool_t *fuzz_pool_create(void);
void fuzz_pool_destroy(ngx_pool_t *pool);


#endif /* _NGX_SHIM_H_INCLUDED_ */
