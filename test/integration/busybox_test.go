package integration

import (
	"testing"
	"time"
)

// bbCase is one busybox scenario: a /bin/sh -c script run over the busybox
// rootfs natively (chroot) and in the sandbox.
type bbCase struct {
	name   string
	script string
	opts   sandboxOpts // user, cwd, env, stdin, timeout
	norms  []normalizer
}

// Scripts that write files start in a fresh directory of their own
// (mktemp -d), so runs do not see each other's files, and print relative
// names only.
const inTmp = "cd \"$(mktemp -d)\" || exit 99\n"

var busyboxCases = []bbCase{
	{name: "pipes", script: `
seq 1 1000 | grep 7 | sort -r | head -5
echo a b c | tr ' ' '\n' | wc -l
seq 1 100000 | tail -1
yes | head -n 3
cat /etc/passwd | cut -d: -f1 | sort
`},
	{name: "subshells", script: `
x=1; (x=2; echo inner $x); echo outer $x
(cd /etc && pwd); pwd
echo $( (echo nested) )
(exit 3); echo status $?
{ echo grouped; echo twice; } | wc -l
`},
	{name: "loops", script: `
for i in 1 2 3; do echo for $i; done
i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo while $i
until false; do echo until; break; done
for f in a b; do for g in 1 2; do printf '%s%s ' $f $g; done; done; echo
n=0; for i in $(seq 1 200); do n=$((n+i)); done; echo sum $n
case foo.txt in *.log) echo log;; *.txt) echo txt;; esac
`},
	{name: "command-substitution", script: `
a=$(echo hello | tr a-z A-Z); echo "$a"
b=` + "`seq 3 | wc -l`" + `; echo $b
echo "$(echo "$(echo deep)")"
echo "count: $(ls /bin | wc -l | tr -d ' ' | sed 's/[0-9]/N/g')"
f() { echo "in function $1"; return 4; }; out=$(f arg); echo "$out status $?"
`},
	{name: "here-documents", script: `
cat <<END
line $((1+1)) $HOME
END
cat <<'END'
no $expansion here
END
while read a b; do echo "[$a|$b]"; done <<END
one 1
two 2
END
wc -l <<END
x
y
END
`},
	{name: "redirections", script: inTmp + `
echo a > f; echo b >> f; cat < f
ls nosuch 2>err; echo status $?; cat err
exec 3>g; echo via3 >&3; exec 3>&-; cat g
{ echo out; echo err >&2; } 2>&1 | sort
echo gone >/dev/null; cat /dev/null | wc -c
echo both > h 2>&1; cat h
head -c 8 /dev/zero | wc -c
echo x > /dev/full; echo full status $?
`},
	{name: "background-jobs", script: `
(sleep 1; echo slow) & (echo fast) & wait; echo all done
sleep 0.1 & p=$!; wait $p; echo status $?
(exit 7) & wait $!; echo status $?
for i in 1 2 3 4; do (echo job $i > /dev/null) & done; wait; echo four done
`},
	{name: "trap", script: `
trap 'echo got USR1' USR1
kill -USR1 $$
echo after
sh -c 'trap "echo child got TERM; exit 5" TERM; kill -TERM $$; sleep 1'; echo child status $?
trap 'echo bye' EXIT
echo end
`},
	{name: "kill", script: `
sleep 30 & p=$!; kill $p; wait $p; echo status $?
sleep 30 & p=$!; kill -9 $p; wait $p; echo status $?
sh -c 'kill -INT $$'; echo status $?
kill -0 $$ && echo self alive
kill -l 15
kill 999999; echo status $?
sh -c 'kill -SEGV $$'; echo status $?
`},
	{name: "ls-la", norms: []normalizer{normLsDirs, normTimes}, script: inTmp + `
mkdir w && cd w || exit 99
mkdir d; echo hello > f; chmod 640 f; ln -s f l; touch -d '2020-01-02 03:04:05' f
echo 12345678 > d/x
ls -la
ls -l d
ls -1 /etc
ls -d /tmp
`},
	{name: "cat", script: inTmp + `
echo one > a; echo two > b
cat a b
printf 'x\ny\n' | cat -n
echo stdin | cat a - b
cat nosuch; echo status $?
`},
	{name: "wc", script: `
seq 1 1000 | wc
printf 'a b\nc\n' | wc -l -w -c
wc -l < /etc/passwd
`},
	{name: "sort-uniq", script: `
printf '3\n1\n2\n3\n1\n10\n' | sort | uniq -c
printf '3\n1\n2\n10\n' | sort -n -r
printf 'b,2\na,3\nc,1\n' | sort -t, -k2
printf 'a\na\nb\nc\nc\n' | uniq -d
seq 1 2000 | sort | head -3
`},
	{name: "sed", script: inTmp + `
seq 10 | sed -n '2,4p'
echo hello world | sed 's/o/0/g'
seq 5 > f; sed -i '/3/d' f; cat f
echo abc | sed -e 's/\(a\)\(b\)/\2\1/'
printf 'k=v\n' | sed 's/=.*//'
`},
	{name: "awk", script: `
seq 1 10 | awk '{ s += $1 } END { print s, NR }'
echo 'a:b:c' | awk -F: '{ print $2, NF }'
awk 'BEGIN { printf "%05.2f\n", 3.14159; for (i = 0; i < 3; i++) print i * i }'
printf 'x 1\ny 2\nx 3\n' | awk '{ t[$1] += $2 } END { print t["x"], t["y"] }'
awk -F: '$3 == 0 { print $1 }' /etc/passwd
`},
	{name: "grep", script: inTmp + `
seq 1 100 > n
grep -c 1 n
grep -v '[0-8]' n
grep -E '^(1|2)0$' n
echo Hello | grep -i hello
grep -n 99 n
mkdir d; echo needle > d/a; echo hay > d/b
grep -r needle d
grep -l needle d/*
grep nothing n; echo status $?
grep x nosuch; echo status $?
`},
	{name: "find", script: inTmp + `
mkdir -p a/b/c; touch a/x.txt a/b/y.txt a/b/c/z.log
find a | sort
find a -name '*.txt' | sort
find a -type d | sort
find a -type f -exec basename {} \; | sort
find a -maxdepth 1 | sort
`},
	{name: "xargs", script: inTmp + `
seq 1 10 | xargs -n 3 echo
printf 'a\0b\0' | xargs -0 echo
touch p.txt q.txt; find . -name '*.txt' | sort | xargs echo
echo 1 2 3 | xargs -n1 sh -c 'echo arg $0'
`},
	{name: "tar", script: inTmp + `
mkdir src src/sub; seq 1 1000 > src/a; echo b > src/b; echo s > src/sub/s; ln -s a src/link
chmod 600 src/b
tar cf x.tar src
tar tf x.tar | sort
x=$(mktemp -d /tmp/extract.XXXXXX) && tar xf x.tar -C "$x"
diff -r src "$x/src" && echo same
readlink "$x/src/link"
stat -c '%a' "$x/src/b"
tar czf x.tgz src && tar tzf x.tgz | sort
rm -r "$x"; [ -e "$x" ] || echo extracted tree removed
`},
	{name: "gzip", script: inTmp + `
seq 1 20000 > f; md5sum f
gzip -9 f; ls; wc -c < f.gz
gzip -t f.gz && echo test ok
gunzip f.gz; ls; md5sum f
echo hi | gzip | gunzip
gzip -c f | zcat | md5sum
`},
	{name: "md5sum-sha256sum", script: inTmp + `
echo abc | md5sum
seq 1 100000 | sha256sum
printf 'data' > f; sha256sum f; md5sum f > sums; md5sum -c sums
sha1sum f; sha512sum f
`},
	{name: "cp-a", script: inTmp + `
mkdir -p src/d; echo 1 > src/f; chmod 600 src/f; touch -d '2021-05-06 07:08:09' src/f; ln -s f src/l
cp -a src dst
for p in f l d; do stat -c "%n %a %F" src/$p dst/$p; done
stat -c '%Y' src/f dst/f
readlink dst/l
cp src/f plain; stat -c '%a' plain
`},
	{name: "mv", script: inTmp + `
echo x > a; mv a b; ls
mkdir d; mv b d/; ls d
mv d e; ls
mv nosuch z; echo status $?
`},
	{name: "rm-r", script: inTmp + `
mkdir -p a/b/c; touch a/b/c/f a/g
rm -r a; ls; [ -e a ] || echo gone
rm nosuch; echo status $?
rm -rf nosuch; echo status $?
mkdir e; rm e; echo status $?
`},
	{name: "mkdir-p", script: inTmp + `
mkdir -p x/y/z; find x | sort
mkdir x; echo status $?
mkdir -p x; echo status $?
mkdir -m 700 m; stat -c %a m
`},
	{name: "ln-s", script: inTmp + `
echo t > target; ln -s target l; readlink l; cat l
ln -s /nonexistent dangling; cat dangling; echo status $?
ln target hard; stat -c %h target
ln -s target l; echo status $?
`},
	{name: "stat", norms: []normalizer{normInodes}, script: inTmp + `
printf 12345 > f; mkdir d; ln f h
stat -c '%n %s %a %F %h %U %G' f d h
stat -c 'ino=%i' f
[ "$(stat -c %i f)" = "$(stat -c %i h)" ] && echo same inode
stat -c '%F' /dev/null /bin/busybox /bin/sh
`},
	{name: "du", script: inTmp + `
dd if=/dev/zero of=f bs=4096 count=4 2>/dev/null
mkdir d; dd if=/dev/zero of=d/g bs=4096 count=2 2>/dev/null
du -k f d/g
du -a d | cut -f2
`},
	{name: "df", script: `
df -k /tmp | head -1
df -k /tmp >/dev/null && echo df ok
`},
	{name: "date", script: `
date -u -d @1700000000
date -u -d @0 '+%Y-%m-%d %H:%M:%S'
date +%s | grep -cE '^[0-9]{10}$'
`},
	{name: "sleep", script: `
s=$(date +%s); sleep 1; e=$(date +%s); [ $((e - s)) -ge 1 ] && echo waited
sleep 0.2; echo done
`},
	{name: "seq", script: `
seq 5; seq 2 2 10; seq -s, 1 5; seq 10 -3 1
`},
	{name: "head-tail", script: inTmp + `
seq 100 > f
head -3 f; tail -3 f; head -c 5 f; echo; tail -n +98 f; seq 5 | tail -1
`},
	{name: "tee", script: inTmp + `
echo hi | tee a b > /dev/null; cat a b
echo more | tee -a a; cat a
`},
	{name: "env", script: `
env -i FOO=bar BAZ=qux env | sort
env | grep -E '^(PATH|HOME|RUNSC_TEST)=' | sort
FOO=1 env | grep ^FOO
`},
	{name: "id", script: `
id; id -u; id -g; id -un
`},
	{name: "id-nobody", opts: sandboxOpts{user: "65534:65534"}, script: `
id -u; id -g; id -un; id -gn
ls /root; echo status $?
touch /tmp/mine.$$ && echo tmp writable; rm -f /tmp/mine.$$
`},
	{name: "cwd", opts: sandboxOpts{cwd: "/etc"}, script: `
pwd; ls passwd
`},
	{name: "ps-proc", script: `
sleep 30 &
i=0; while [ "$(cat /proc/$!/comm)" != sleep ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
f=$(mktemp); ps -o comm > "$f"; sort "$f"; rm "$f"
grep -E '^(Name|PPid):' /proc/$$/status
ls /proc/self/fd | sort -n | tr '\n' ' '; echo
readlink /proc/self/exe
cat /proc/self/cmdline | tr '\0' ' '; echo
tr '\0' ' ' < /proc/1/cmdline | head -c 10; echo
kill %1
`},
	{name: "exit-status", script: `echo bye; exit 42`},
	{name: "stdin", opts: sandboxOpts{stdin: "line one\nline two\n"}, script: `
wc -l; echo read done
`},
}

func TestBusybox(t *testing.T) {
	for _, tc := range busyboxCases {
		t.Run(tc.name, func(t *testing.T) {
			requireSandbox(t, false)
			o := tc.opts
			o.rootfs = env.rootfs
			if o.timeout == 0 {
				o.timeout = 60 * time.Second
			}
			argv := []string{"/bin/sh", "-c", tc.script}
			native := runNativeRootfs(t, env.rootfs, o, argv...)
			sandbox := runSandbox(t, o, argv...)
			checkNoCrash(t, sandbox)
			compare(t, native, sandbox, tc.norms...)
		})
	}
}
