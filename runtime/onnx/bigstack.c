// A thread with a stack of a given size, for ONNX Runtime's start-up (see bigstack.go).
#include <pthread.h>
#include <stddef.h>

extern void rnnrunOnBigStack(void);

static void *rnnrun_big_stack_thread(void *arg) {
	(void)arg;
	rnnrunOnBigStack();
	return NULL;
}

int rnnrun_run_on_big_stack(size_t size) {
	pthread_attr_t attr;
	pthread_t t;
	int err = pthread_attr_init(&attr);
	if (err) return err;
	err = pthread_attr_setstacksize(&attr, size);
	if (!err) err = pthread_create(&t, &attr, rnnrun_big_stack_thread, NULL);
	pthread_attr_destroy(&attr);
	if (err) return err;
	return pthread_join(t, NULL);
}
