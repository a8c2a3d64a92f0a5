/* readdir64 for ec_folder_next, in this file only: a 32-bit readdir fails with EOVERFLOW on an entry whose
 * offset does not fit 32 bits (ext4's hashed offsets, as a 64-bit kernel hands them to qemu-user). */
#define _LARGEFILE64_SOURCE 1
#include "CShim.h"

/* Thread-local storage is a C feature Swift cannot declare; the buffer lives here. */
char *ec_last_error_buffer(void) {
    static _Thread_local char buffer[EC_LAST_ERROR_SIZE];
    return buffer;
}

const char *ec_folder_next(DIR *folder, int *error) {
    errno = 0;
    struct dirent64 *entry = readdir64(folder);
    *error = entry ? 0 : errno;
    return entry ? entry->d_name : NULL;
}
