/* Start-up for QEMU's mps2-an386: copy .data, zero .bss, enable the FPU, run main() with
 * newlib's semihosting (rdimon) for stdout/stderr and exit. The entry point is
 * Reset_Handler (the linker script's ENTRY), not newlib's _start. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __data_start__, __data_end__, __data_load__, __bss_start__, __bss_end__, __stack_top__;
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(void);

void Reset_Handler(void) {
  memcpy(&__data_start__, &__data_load__, (size_t)((char *)&__data_end__ - (char *)&__data_start__));
  memset(&__bss_start__, 0, (size_t)((char *)&__bss_end__ - (char *)&__bss_start__));
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10, CP11 */
  __asm volatile("dsb\n isb");
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

static void fault(void) {
  exit(3);
}

__attribute__((section(".isr_vector"), used)) static void *const vectors[16] = {
    &__stack_top__, (void *)Reset_Handler, (void *)fault, (void *)fault, (void *)fault,
    (void *)fault,  (void *)fault,
};
