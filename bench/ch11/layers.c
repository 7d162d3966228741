// layers N: the kernel cost of chapter 11's mounts, cgroupns and caps, each step timed in a fresh
// mount namespace (a child per iteration) with its own proc and sysfs; min and median over N.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define STEPS 8
static const char *names[STEPS] = {"4 read-only binds (8 mounts)", "2 masked dirs (tmpfs)", "2 masked files (/dev/null)",
  "7 statx of absent masked paths", "cgroupns: unshare", "cgroupns: tmpfs+3 cgroup mounts+remount", "26 bounding-set drops", "all (sum of steps)"};
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
static int skip;
static void one(double *t){
  unshare(CLONE_NEWNS); mount(NULL,"/",NULL,MS_REC|MS_PRIVATE,NULL);
  mount("proc","/proc","proc",MS_NOSUID|MS_NODEV|MS_NOEXEC,NULL);
  if(skip) return;
  double a=now();
  const char *ro[]={"/proc/bus","/proc/fs","/proc/irq","/proc/sys"};
  for(int i=0;i<4;i++){ mount(ro[i],ro[i],NULL,MS_BIND|MS_REC,NULL);
    mount(NULL,ro[i],NULL,MS_REMOUNT|MS_BIND|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC,NULL);}
  double b=now(); t[0]=b-a;
  mount("tmpfs","/proc/acpi","tmpfs",MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC,"size=0");
  mount("tmpfs","/sys/firmware","tmpfs",MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC,"size=0");
  double c=now(); t[1]=c-b;
  mount("/dev/null","/proc/keys",NULL,MS_BIND,NULL); mount("/dev/null","/proc/timer_list",NULL,MS_BIND,NULL);
  double d=now(); t[2]=d-c;
  const char *absent[]={"/proc/asound","/proc/kcore","/proc/latency_stats","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/devices/virtual/powercap"};
  struct stat st; for(int i=0;i<7;i++) stat(absent[i],&st);
  double e=now(); t[3]=e-d;
  unshare(CLONE_NEWCGROUP);
  double f=now(); t[4]=f-e;
  mount("tmpfs","/sys/fs/cgroup","tmpfs",MS_NOSUID|MS_NODEV|MS_NOEXEC,"mode=755");
  const char *h[]={"memory","pids","devices"}; char p[64];
  for(int i=0;i<3;i++){ snprintf(p,64,"/sys/fs/cgroup/%s",h[i]); mkdir(p,0755); mount("cgroup",p,"cgroup",MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC,h[i]); }
  mount(NULL,"/sys/fs/cgroup",NULL,MS_REMOUNT|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC,"mode=755");
  double g=now(); t[5]=g-f;
  for(int cap=0;cap<=40;cap++){ int keep = (cap==0||cap==1||cap==3||cap==4||cap==5||cap==6||cap==7||cap==8||cap==10||cap==13||cap==18||cap==27||cap==29||cap==31); if(!keep) prctl(PR_CAPBSET_DROP,cap,0,0,0); }
  double i=now(); t[6]=i-g; t[7]=i-a;
}
int main(int argc,char**argv){
  int n=argc>1?atoi(argv[1]):200; double *all=calloc(n*STEPS,sizeof(double)); double ex[2][n];
  for(int k=0;k<2*n;k++){ int p[2]; pipe(p); skip=k%2;
    if(fork()==0){ double t[STEPS]={0}; one(t); write(p[1],t,sizeof t); _exit(0);} 
    read(p[0],skip?(double[STEPS]){0}:&all[(k/2)*STEPS],STEPS*sizeof(double)); double a=now(); close(p[0]);close(p[1]); wait(NULL); ex[skip][k/2]=now()-a;}
  for(int m=0;m<2;m++){ qsort(ex[m],n,sizeof(double),cmp); printf("exit + wait, %-24s min %6.1f  median %6.1f us\n", m?"without the ch11 mounts":"with the ch11 mounts", ex[m][0], ex[m][n/2]); }
  for(int s=0;s<STEPS;s++){ double v[n]; for(int k=0;k<n;k++) v[k]=all[k*STEPS+s]; qsort(v,n,sizeof(double),cmp);
    printf("%-42s min %6.1f  median %6.1f us\n",names[s],v[0],v[n/2]); }
}
