/* Standalone: MPTCP + TCP Fast Open bulk download. server: tfo_mptcp s PORT ; client: tfo_mptcp c IP PORT SECONDS [tfo] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static char buf[1<<16];
int main(int argc,char**argv){
  signal(SIGPIPE,SIG_IGN);
  int proto = getenv("NO_MPTCP") ? IPPROTO_TCP : IPPROTO_MPTCP;
  if(argv[1][0]=='s'){
    int l=socket(AF_INET,SOCK_STREAM,proto),one=1,q=1024;
    setsockopt(l,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
    if(!getenv("NO_TFO_LISTEN")&&setsockopt(l,SOL_TCP,TCP_FASTOPEN,&q,sizeof q))perror("TCP_FASTOPEN");
    struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(atoi(argv[2]))};
    if(bind(l,(void*)&a,sizeof a)||listen(l,128)){perror("bind/listen");return 1;}
    for(;;){int c=accept(l,0,0); if(c<0)continue; if(fork()==0){
        char req[16]={0}; if(read(c,req,sizeof req-1)<=0)_exit(0);
        double secs=atof(req), end=now()+secs;
        memset(buf,'x',sizeof buf);
        while(now()<end){ if(write(c,buf,sizeof buf)<0)break; }
        shutdown(c,SHUT_WR); while(read(c,buf,sizeof buf)>0); _exit(0);}
      close(c);}
  }
  int s=socket(AF_INET,SOCK_STREAM,proto),one=1;
  int tfo=argc>5&&!strcmp(argv[5],"tfo");
  if(tfo&&setsockopt(s,SOL_TCP,TCP_FASTOPEN_CONNECT,&one,sizeof one))perror("TCP_FASTOPEN_CONNECT");
  struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(atoi(argv[3]))};
  inet_pton(AF_INET,argv[2],&a.sin_addr);
  double t0=now();
  if(connect(s,(void*)&a,sizeof a)){perror("connect");return 1;}
  char req[16]; snprintf(req,sizeof req,"%s",argv[4]);
  if(write(s,req,strlen(req))<0){perror("write");return 1;}
  /* goodput per 100 ms bins */
  int nb=0; static long bins[100000]; long total=0; ssize_t n; double first=0;
  while((n=read(s,buf,sizeof buf))>0){ double t=now(); if(!first)first=t; int b=(int)((t-t0)*10); if(b<100000){bins[b]+=n; if(b+1>nb)nb=b+1;} total+=n; }
  double el=now()-t0; double mean=total*8/el/1e6;
  int longest=0,cur=0; for(int i=10;i<nb;i++){ double mb=bins[i]*8/0.1/1e6; if(mb<0.1*mean){cur++; if(cur>longest)longest=cur;} else cur=0; }
  printf("goodput %.1f Mb/s over %.2f s, ttfb %.1f ms, longest stall %d ms\n",mean,el,(first-t0)*1e3,longest*100);
  if(getenv("BINS")){for(int i=0;i<nb;i++)printf("%.1f ",bins[i]*8/0.1/1e6);printf("\n");}
  return 0;
}
