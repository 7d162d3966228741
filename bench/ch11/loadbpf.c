// loadbpf FILE [N]: time seccomp(SECCOMP_SET_MODE_FILTER) of the raw BPF in FILE (genbpf.py) in N fresh
// children; then one call the filter must judge (personality(0xffffffff)) with and without it.
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  FILE*f=fopen(argv[1],"rb"); static struct sock_filter ins[4096]; size_t n=fread(ins,8,4096,f); fclose(f);
  int runs=argc>2?atoi(argv[2]):200;
  struct sock_fprog prog={.len=n,.filter=ins};
  double *t=calloc(runs,sizeof(double)); int p[2];
  for(int i=0;i<runs;i++){
    pipe(p);
    if(fork()==0){double a=now(); long r=syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,0,&prog); double b=now();
      if(r){perror("seccomp");_exit(1);} double d=b-a; write(p[1],&d,sizeof d); _exit(0);}
    read(p[0],&t[i],sizeof(double)); close(p[0]);close(p[1]); wait(NULL);
  }
  qsort(t,runs,sizeof(double),cmp);
  double s=0; for(int i=0;i<runs;i++) s+=t[i];
  // per-syscall
  double per[2];
  for(int k=0;k<2;k++){ pipe(p);
    if(fork()==0){ if(k) syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,0,&prog);
      double best=1e18; for(int r=0;r<20;r++){double a=now(); for(int j=0;j<20000;j++) syscall(SYS_personality, 0xffffffffUL); double b=(now()-a)/20000*1000; if(b<best)best=b;}
      write(p[1],&best,sizeof best); _exit(0);}
    read(p[0],&per[k],sizeof(double)); close(p[0]);close(p[1]); wait(NULL);}
  printf("%-40s %4zu insns  load min %6.1f  median %6.1f  mean %6.1f us   personality(query) %5.0f ns (no filter %4.0f, +%.0f)\n",
    strrchr(argv[1],'/')?strrchr(argv[1],'/')+1:argv[1], n, t[0], t[runs/2], s/runs, per[1], per[0], per[1]-per[0]);
  return 0;
}
