/* The two declarations from pthreadpool's public header that executorch's shipped
 * threadpool.h needs; the wheel ships threadpool.h but not pthreadpool.h. The
 * implementation lives in the wheel's runtime library. */
#pragma once
#ifdef __cplusplus
extern "C" {
#endif
typedef struct pthreadpool* pthreadpool_t;
void pthreadpool_destroy(pthreadpool_t threadpool);
#ifdef __cplusplus
}
#endif
