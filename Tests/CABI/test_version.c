/* The version check and the static-string functions. */
#include "cabi_test.h"

static void version_matches_header(void) {
    CHECK_EQ(edgecore_version_number(), EDGECORE_VERSION_NUMBER);
    CHECK_EQ(edgecore_version_number() / 1000000, EDGECORE_VERSION_MAJOR);
    CHECK_EQ(EDGECORE_VERSION_NUMBER,
             EDGECORE_VERSION_MAJOR * 1000000 + EDGECORE_VERSION_MINOR * 1000 + EDGECORE_VERSION_PATCH);
    CHECK_STR(edgecore_version_string(), EDGECORE_VERSION_STRING);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", EDGECORE_VERSION_MAJOR, EDGECORE_VERSION_MINOR,
             EDGECORE_VERSION_PATCH);
    CHECK_STR(edgecore_version_string(), expected);
}

static void strerror_names_every_library_code(void) {
    CHECK_STR(edgecore_strerror(EDGECORE_OK), "success");
    CHECK_STR(edgecore_strerror(EDGECORE_E_NULL_POINTER), "a required pointer argument is NULL");
    CHECK_STR(edgecore_strerror(EDGECORE_E_TIMEOUT), "timed out");
    for (int code = EDGECORE_E_FIRST; code >= EDGECORE_E_LAST; code--) {
        const char *text = edgecore_strerror(code);
        CHECK(text != NULL);
        CHECK(text != NULL && strcmp(text, "unknown result code") != 0);
        /* distinct codes get distinct texts */
        for (int other = code - 1; other >= EDGECORE_E_LAST; other--)
            CHECK(strcmp(text, edgecore_strerror(other)) != 0);
    }
}

static void strerror_describes_system_errors(void) {
    CHECK_STR(edgecore_strerror(-ENOMEM), strerror(ENOMEM));
    CHECK_STR(edgecore_strerror(-EINVAL), strerror(EINVAL));
    CHECK_STR(edgecore_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
}

static void strerror_never_returns_null(void) {
    const int codes[] = {1, 42, INT_MAX, INT_MIN, -4096, -4095, -9999, EDGECORE_E_LAST - 1, -20000, -3000};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *text = edgecore_strerror(codes[i]);
        CHECK(text != NULL && text[0] != '\0');
    }
    CHECK_STR(edgecore_strerror(1), "unknown result code");
    CHECK_STR(edgecore_strerror(EDGECORE_E_LAST - 1), "unknown result code");
    CHECK_STR(edgecore_strerror(INT_MIN), "unknown result code");
}

static void status_names(void) {
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_OK), "ok");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_TIMEOUT), "timeout");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_CRC_ERROR), "crc_error");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_EXCEPTION), "exception");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_SENTINEL), "sentinel");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_OUT_OF_RANGE), "out_of_range");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_DISCONNECTED), "disconnected");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_STALE), "stale");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_OFFLINE), "offline");
    CHECK_STR(edgecore_status_name(EDGECORE_STATUS_EVENTS_LOST), "events_lost");
    CHECK_STR(edgecore_status_name(10), "unknown");
    CHECK_STR(edgecore_status_name(-1), "unknown");
    CHECK_STR(edgecore_status_name(INT_MIN), "unknown");
    CHECK_STR(edgecore_status_name(65535), "unknown");
}

static void reading_layout(void) {
    CHECK_EQ(sizeof(struct edgecore_reading), 32);
    CHECK_EQ(offsetof(struct edgecore_reading, timestamp_ns), 0);
    CHECK_EQ(offsetof(struct edgecore_reading, channel), 16);
    CHECK_EQ(offsetof(struct edgecore_reading, sequence), 20);
    CHECK_EQ(offsetof(struct edgecore_reading, status_detail), 26);
    CHECK_EQ(offsetof(struct edgecore_reading, reserved), 28);
    CHECK_EQ(sizeof(struct edgecore_ring_stats), 48);
}

int main(void) {
    RUN(version_matches_header);
    RUN(strerror_names_every_library_code);
    RUN(strerror_describes_system_errors);
    RUN(strerror_never_returns_null);
    RUN(status_names);
    RUN(reading_layout);
    return cabi_finish("test_version");
}
