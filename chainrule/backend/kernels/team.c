/* Ranges of work on GNU OpenMP's team of threads.
 *
 * Used by chainrule/backend/threads.py (run_ranges) while oneDNN holds the threads: oneDNN's
 * primitives, its sgemm and the LSTM cell then run on one OpenMP team, whose idle workers spin
 * for a while after each parallel region.  A kernel's ranges handed to a thread of another
 * pool would wait for a core such a worker holds; handed to the team, they run on those
 * workers.  `run(r)` is a Python callback (ctypes) that runs range r of the kernel and
 * releases the interpreter's lock while the kernel runs.
 *
 * Built with -fopenmp where the compiler has it (native._OPENMP_KERNELS); without it,
 * team_has_openmp() says 0 and the caller keeps its own threads.
 */
#ifdef _OPENMP
#include <omp.h>
#endif

typedef void (*range_fn)(int);

int team_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* range_fn(r) for r in [0, ranges), on a team of `threads`; each thread takes every n-th
 * range from its own number on, so every range runs even when the team is smaller than asked
 * (a call from inside another parallel region gets a team of one). */
void team_run(int threads, int ranges, range_fn run)
{
#pragma omp parallel num_threads(threads)
    {
        int t = 0, n = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        n = omp_get_num_threads();
#endif
        for (int r = t; r < ranges; r += n)
            run(r);
    }
}
