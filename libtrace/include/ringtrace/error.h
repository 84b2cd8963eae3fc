/* SPDX-License-Identifier: MIT */
/* ringtrace's error codes: negative errno values, and its own codes from 1024 on, shared by the
 * producer library and the consumer. */
#ifndef RINGTRACE_ERROR_H
#define RINGTRACE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * \defgroup rt_errors Errors
 * Functions returning int return 0 or a negative errno value; ringtrace's own codes start at 1024.
 */
enum rt_error {
	RT_EBADMAGIC = 1024, /**< segment is not a ringtrace segment */
	RT_EABI = 1025,      /**< segment ABI version not supported */
	RT_ECORRUPT = 1026,  /**< segment content is inconsistent */
	RT_EBUSY_CONSUMER = 1027, /**< another consumer is attached */
	RT_EGONE = 1028,     /**< the producer process is gone */
	RT_ELIMIT = 1029,    /**< segment claims more than a documented limit allows (\since 0.2) */
};

/** Describe an error code (negative errno or -enum rt_error). Thread-safe, async-signal-safe.
 *  \since 0.1 */
__attribute__((visibility("default"))) const char *rt_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
