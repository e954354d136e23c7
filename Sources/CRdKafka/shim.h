#ifndef ZHIFA_CRDKAFKA_SHIM_H
#define ZHIFA_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>

/* Names the calling thread as `top -H` and `perf` show it (Linux keeps 15 bytes). prctl is
 * variadic, so Swift calls it through this wrapper. */
static inline void zhifa_name_current_thread(const char *name) {
        prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

/*
 * Thin non-variadic wrappers: Swift cannot call C variadic functions such as
 * rd_kafka_producev. Ownership of `headers` passes to librdkafka only when the
 * call returns RD_KAFKA_RESP_ERR_NO_ERROR; otherwise the caller still owns it.
 */
static inline rd_kafka_resp_err_t zhifa_produce_rkt(rd_kafka_t *rk,
                                                rd_kafka_topic_t *rkt,
                                                int32_t partition,
                                                const void *key, size_t key_len,
                                                const void *value, size_t value_len,
                                                rd_kafka_headers_t *headers,
                                                void *opaque) {
        return rd_kafka_producev(rk,
                                 RD_KAFKA_V_RKT(rkt),
                                 RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_VALUE((void *)value, value_len),
                                 RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_OPAQUE(opaque),
                                 RD_KAFKA_V_END);
}

/* rd_kafka_message_t fields are plain C; these keep the Swift side tidy. */
static inline const rd_kafka_topic_partition_t *
zhifa_partition_at(const rd_kafka_topic_partition_list_t *list, int i) {
        return &list->elems[i];
}

/* One pushed error with its round-trip time for one broker (variadic in librdkafka). */
static inline rd_kafka_resp_err_t zhifa_mock_push_broker_error(rd_kafka_mock_cluster_t *mc,
                                                               int32_t broker_id,
                                                               int16_t api_key,
                                                               rd_kafka_resp_err_t err,
                                                               int32_t rtt_ms) {
        return rd_kafka_mock_broker_push_request_error_rtts(mc, broker_id, api_key, 1, err, rtt_ms);
}

#endif
