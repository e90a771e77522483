// Package ptracetest runs programs loaded by sentry/loader into a
// sentry/mm memory manager on the real ptrace platform, with a handful of
// system calls emulated, to check loader, mm and platform together. It is a
// separate package so that the loader's unit tests do not depend on the
// platform compiling.
package ptracetest
