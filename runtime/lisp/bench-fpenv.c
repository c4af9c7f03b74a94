/* bench-fpenv.c -- the cost of each x86-64 floating-point-environment instruction on this
   CPU (ns per operation, best of R loops of N, thread CPU clock), the instructions of the
   float-environment switch at the boundary into Python (runtime/capi/src/fpenv.rs). Run by
   scripts/lisp-bench; alone: cc -O2 -o /tmp/bench-fpenv runtime/lisp/bench-fpenv.c && /tmp/bench-fpenv
   "Lisp": SBCL's MXCSR (overflow, invalid, divide-by-zero trapping); "Python": every trap
   masked. A pair is the two loads of one call (into Python and back). */
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#define N 500000
#define R 9
static inline unsigned st(void){unsigned v;__asm__ volatile("stmxcsr %0":"=m"(v));return v;}
static inline void ld(unsigned v){__asm__ volatile("ldmxcsr %0"::"m"(v));}
static inline unsigned short fst(void){unsigned short v;__asm__ volatile("fnstcw %0":"=m"(v));return v;}
static inline void fld(unsigned short v){__asm__ volatile("fldcw %0"::"m"(v));}
static inline void clex(void){__asm__ volatile("fnclex");}
static volatile double sink; static double acc=1.0;
static inline void sse(void){__asm__ volatile("addsd %1, %0":"+x"(acc):"x"(1e-300));}
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define LISP 0x1920u  /* SBCL: OM ZM IM unmasked (DM UM PM masked), PE flag set */
#define LISPC 0x1900u /* same, flags clear */
#define PY   0x1F80u  /* Python: every trap masked, flags clear */
#define PYF  0x1FA0u  /* Python, PE flag set */
#define BENCH(name, body) do{ double best=1e9; for(int r=0;r<R;r++){ double t0=now(); for(long i=0;i<N;i++){ body; __asm__ volatile("":::"memory"); } double t=now()-t0; if(t<best)best=t;} printf("%-62s %6.2f ns\n", name, best*1e9/N); }while(0)
int main(void){
  unsigned saved=st(); unsigned short cw=fst();
  BENCH("empty loop", (void)0);
  BENCH("stmxcsr", (void)st());
  ld(LISPC); BENCH("ldmxcsr same value, flags clear", ld(LISPC));
  ld(LISP);  BENCH("ldmxcsr same value, PE flag set", ld(LISP));
  BENCH("ldmxcsr alternating Lisp/Python masks, flags clear (pair)", {ld(PY); ld(LISPC);});
  BENCH("ldmxcsr alternating Lisp(PE set)/Python clear (pair)", {ld(PY); ld(LISP);});
  BENCH("ldmxcsr alternating Lisp clear/Python(PE set) (pair)", {ld(PYF); ld(LISPC);});
  BENCH("ldmxcsr toggling only the PE flag (pair)", {ld(PY); ld(PYF);});
  BENCH("ldmxcsr toggling only DAZ (pair)", {ld(PY); ld(PY|0x40);});
  BENCH("ldmxcsr toggling only the DM mask (pair)", {ld(PY); ld(PY&~0x0100u);});
  BENCH("ldmxcsr pair both flags clear (pair)", {ld(PY); ld(LISPC);});
  BENCH("ldmxcsr pair + addsd after each (pair)", {ld(PY); sse(); ld(LISPC); sse();});
  BENCH("addsd x2 alone", {sse(); sse();});
  BENCH("fpenv.rs switch every call, Lisp caller: st, ld masked, ld back", {unsigned s=st(); int ch=(s&0x1F80)!=0x1F80; if(ch) ld((s|0x1F80)&~0x3Fu); if(ch||st()!=(s&~0x3Fu)) ld(s&~0x3Fu);});
  ld(LISPC); BENCH("fpenv.rs switch on demand, no trap (Lisp caller): st, st", {unsigned s=st(); if(st()!=(s&~0x3Fu)) ld(s&~0x3Fu);});
  ld(PY); BENCH("fpenv.rs switch every call, caller already masked: st, st", {unsigned s=st(); int ch=(s&0x1F80)!=0x1F80; if(ch) ld((s|0x1F80)&~0x3Fu); if(ch||st()!=(s&~0x3Fu)) ld(s&~0x3Fu);});
  ld(saved);
  BENCH("fnstcw", (void)fst());
  BENCH("fldcw same value", fld(cw));
  BENCH("fldcw alternating masked/0x37F-unmasked (pair)", {fld(cw|0x3F); fld((cw&~0x0Du));});
  fld(cw|0x3F);
  BENCH("fnclex (no x87 flags set)", clex());
  BENCH("fnstcw + fldcw same value", {fld(fst());});
  BENCH("fnstcw + compare (mask_x87 hot path)", {unsigned short c=fst(); if((c&0x3F)!=0x3F) fld(c|0x3F);});
  ld(saved); fld(cw); sink=acc; return 0;
}
