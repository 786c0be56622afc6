#!/bin/bash
# build.sh [BUILDDIR]: build every tests/fuzz/fuzz_*.c as a libFuzzer binary
# (clang -fsanitize=fuzzer,address,undefined) linked with all of src/ except
# src/main.c. BUILDDIR (default: build-fuzz in the source tree, or
# $KAFKATAP_FUZZ_BUILDDIR) is configured with clang if it has no config.h yet;
# objects go to BUILDDIR/fuzz/obj and binaries to BUILDDIR/fuzz/.
# Not part of `make check`; see docs/FUZZING.md.
set -euo pipefail
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${1:-${KAFKATAP_FUZZ_BUILDDIR:-$srcdir/build-fuzz}}
CC=${CC:-clang}
mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)
if [[ ! -f $builddir/config.h ]]; then
	echo "build.sh: configuring $builddir"
	(cd "$builddir" && CC=$CC "$srcdir/configure" -q)
fi
# The flags and libraries configure found, taken from the generated Makefile.
mkvar() { sed -n "s/^$1 = //p" "$builddir/Makefile" | head -1; }
dep_cflags="$(mkvar LIBEVENT_CFLAGS) $(mkvar PCAP_CFLAGS) $(mkvar SQLITE3_CFLAGS) $(mkvar ZLIB_CFLAGS) $(mkvar ZSTD_CFLAGS) $(mkvar LZ4_CFLAGS)"
dep_libs="$(mkvar LIBEVENT_LIBS) $(mkvar PCAP_LIBS) $(mkvar SQLITE3_LIBS) $(mkvar ZLIB_LIBS) $(mkvar ZSTD_LIBS) $(mkvar LZ4_LIBS) $(mkvar SNAPPY_LIBS) -lpthread -lm"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wno-unused-parameter $san -I$srcdir/src -I$srcdir/include -I$builddir $dep_cflags"

objdir=$builddir/fuzz/obj
mkdir -p "$objdir"
objs=()
while IFS= read -r src; do
	rel=${src#"$srcdir"/}
	obj=$objdir/$(echo "${rel%.c}" | tr / _).o
	objs+=("$obj")
	if [[ ! -f $obj || $src -nt $obj ]] || find "$srcdir/src" -name '*.h' -newer "$obj" | grep -q .; then
		echo "  CC $rel"
		# shellcheck disable=SC2086
		$CC $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
	fi
done < <(find "$srcdir/src" -name '*.c' ! -path "$srcdir/src/main.c" | sort)

for t in "$srcdir"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	echo "  LD fuzz/$name"
	# shellcheck disable=SC2086
	$CC $cflags -fsanitize=fuzzer "$t" "${objs[@]}" $dep_libs -o "$builddir/fuzz/$name"
done
echo "build.sh: fuzz targets in $builddir/fuzz"
