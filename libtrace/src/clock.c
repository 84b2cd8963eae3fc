/* SPDX-License-Identifier: MIT */
/* Clock selection and calibration samples for producer timestamps. */
#include "clock.h"

#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

int rt__clock_tsc;
int (*rt__clock_gettime_fast)(clockid_t, struct timespec *) = clock_gettime;

/* Number of symbols of a DT_GNU_HASH table (it does not store it): past the highest bucket's
 * chain end. */
static uint32_t gnu_hash_symbols(const uint32_t *h)
{
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_size);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;

	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

/* Address of `name` in the vDSO the kernel mapped into this process, or NULL. The vDSO is a
 * well-formed ELF image provided by the kernel; only its dynamic symbol table is read. */
static void *vdso_symbol(const char *name)
{
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
	const ElfW(Phdr) *ph;
	const ElfW(Dyn) *dyn = NULL;
	const ElfW(Sym) *sym = NULL;
	const char *str = NULL;
	const uint32_t *hash = NULL, *gnu_hash = NULL;
	uintptr_t load = 0;
	bool have_load = false;
	uint32_t count;

	if (!base || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;
	ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			load = base + ph[i].p_offset - ph[i].p_vaddr;
			have_load = true;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)(base + ph[i].p_offset);
		}
	}
	if (!have_load || !dyn)
		return NULL;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			sym = (const ElfW(Sym) *)(load + d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			str = (const char *)(load + d->d_un.d_ptr);
		else if (d->d_tag == DT_HASH)
			hash = (const uint32_t *)(load + d->d_un.d_ptr);
		else if (d->d_tag == DT_GNU_HASH)
			gnu_hash = (const uint32_t *)(load + d->d_un.d_ptr);
	}
	if (!sym || !str || (!hash && !gnu_hash))
		return NULL;
	count = hash ? hash[1] : gnu_hash_symbols(gnu_hash);
	for (uint32_t i = 0; i < count; i++) {
		if (sym[i].st_shndx == SHN_UNDEF || ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC)
			continue;
		if (strcmp(str + sym[i].st_name, name) == 0)
			return (void *)(load + sym[i].st_value);
	}
	return NULL;
}

uint32_t rt__clock_coarse_res_ns(void)
{
	struct timespec res;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0 || res.tv_sec != 0)
		return 0;
	return (uint32_t)res.tv_nsec;
}

bool rt__clock_tsc_invariant(void)
{
	char line[4096];
	bool constant = false, nonstop = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		constant = strstr(line, " constant_tsc") != NULL;
		nonstop = strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return constant && nonstop;
}

int rt__clock_init(const char *forced)
{
	void *vdso = vdso_symbol("__vdso_clock_gettime");
	struct timespec probe;

	/* Used only if it answers the coarse clock like glibc does. */
	if (vdso && ((int (*)(clockid_t, struct timespec *))vdso)(CLOCK_MONOTONIC_COARSE, &probe) == 0)
		rt__clock_gettime_fast = (int (*)(clockid_t, struct timespec *))vdso;
	if (forced && strcmp(forced, "monotonic") == 0)
		rt__clock_tsc = 0;
	else
		rt__clock_tsc = rt__clock_tsc_invariant();
	return rt__clock_tsc ? RT_SHM_CLOCK_TSC : RT_SHM_CLOCK_MONOTONIC;
}

uint64_t rt__clock_sample(struct rt_shm_calib_point *out)
{
	uint64_t width = UINT64_MAX;

	/* The raw read sits between two monotonic reads; use their midpoint, from the narrowest of
	 * a few tries: a thread descheduled in between would put the point off by half the time it
	 * was away, and the consumer interpolates every timestamp near it through it. */
	for (int k = 0; k < RT_CLOCK_SAMPLE_TRIES && width > RT_CLOCK_SAMPLE_GOOD_NS; k++) {
		uint64_t m0 = rt__mono_ns(), raw = rt__now(), m1 = rt__mono_ns();

		if (m1 >= m0 && m1 - m0 < width) {
			width = m1 - m0;
			out->tsc = raw;
			out->mono_ns = m0 + (m1 - m0) / 2;
		}
	}
	out->real_ns = rt__real_ns();
	return width;
}

double rt__clock_rate(const struct rt_shm_calib_point *a, const struct rt_shm_calib_point *b)
{
	if (!rt__clock_tsc || b->mono_ns <= a->mono_ns || b->tsc <= a->tsc)
		return 1.0;
	return (double)(b->tsc - a->tsc) / (double)(b->mono_ns - a->mono_ns);
}
