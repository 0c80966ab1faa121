/*  ff_test — helpers shared by the Criterion suites. */
#ifndef FF_TEST_H_INCLUDED
#define FF_TEST_H_INCLUDED

#endif
