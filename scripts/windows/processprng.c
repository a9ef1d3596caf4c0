/* bcryptprimitives.dll for Wine 8, which lacks it: Rust's std (>= 1.78) imports ProcessPrng from
   it on Windows, and an .exe without it exits at once (c0000135). Real Windows has the DLL; this
   shim is only copied into the test's Wine prefix. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
