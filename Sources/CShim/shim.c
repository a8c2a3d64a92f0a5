#include "CShim.h"

/* Thread-local storage is a C feature Swift cannot declare; the buffer lives here. */
char *ec_last_error_buffer(void) {
    static _Thread_local char buffer[EC_LAST_ERROR_SIZE];
    return buffer;
}
