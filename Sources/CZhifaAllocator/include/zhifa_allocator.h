#ifndef ZHIFA_ALLOCATOR_H
#define ZHIFA_ALLOCATOR_H
/* Returns 1: referencing it keeps the allocator configuration linked into the binary. */
int zhifa_allocator_linked(void);
#endif
