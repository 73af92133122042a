#!/usr/bin/env bash
# Builds the three Lambda functions for provided.al2023 and leaves dist/lambda/<binary>.zip.
#
#   ARCH=arm64|x86_64 LAMBDA_VENV=.venv-lambda scripts/build-lambda.sh     (called by `make lambda`)
#
# cargo-lambda cross-compiles with zig (both from the pinned tool venv) in release mode (fat LTO);
# the build output goes to LAMBDA_TARGET_DIR (default ~/.cache/tributary/lambda-target) so it never
# competes with the test build's target directory. dist/lambda/ARCH records the instruction set
# the zips were built for; `make deploy` checks it.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${ARCH:-arm64}
venv=${LAMBDA_VENV:-.venv-lambda}
target_dir=${LAMBDA_TARGET_DIR:-$HOME/.cache/tributary/lambda-target}
read -ra binaries <<<"${BINARIES:?set BINARIES to the Lambda binaries (the Makefile does)}"

case "$arch" in
  arm64) flag=--arm64 rust_target=aarch64-unknown-linux-gnu ;;
  x86_64) flag=--x86-64 rust_target=x86_64-unknown-linux-gnu ;;
  *)
    echo "build-lambda: ARCH=$arch is not supported; use ARCH=arm64 or ARCH=x86_64" >&2
    exit 2
    ;;
esac
if [[ ! -x "$venv/bin/cargo-lambda" ]]; then
  echo "build-lambda: $venv/bin/cargo-lambda not found; run 'make lambda' (it installs the tools)" >&2
  exit 2
fi

# The venv first on PATH: cargo-lambda, and `python3 -m ziglang` as the zig that links.
export PATH="$PWD/$venv/bin:$PATH"
export CARGO_TARGET_DIR="$target_dir"

# The Rust standard library of the target. cargo-lambda would add it too; doing it here first gives
# a clear message when it cannot be downloaded.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$rust_target"; then
  echo "build-lambda: installing the Rust standard library for $rust_target (rustup target add)"
  if ! rustup target add "$rust_target"; then
    echo "build-lambda: could not install the $rust_target standard library (offline?)." >&2
    if [[ "$arch" == arm64 ]]; then
      echo "build-lambda: build for x86_64 instead: make lambda ARCH=x86_64 (then make deploy ARCH=x86_64)" >&2
    fi
    exit 1
  fi
fi

lambda_dir="$target_dir/lambda-$arch"
packages=()
for binary in "${binaries[@]}"; do packages+=(-p "$binary"); done
echo "build-lambda: cargo lambda build --release $flag (${binaries[*]}) -> $lambda_dir"
started=$SECONDS
# --disable-optimizations: cargo-lambda would force panic=abort (and its own LTO/CPU flags); the
# workspace's [profile.release] applies instead — fat LTO, one codegen unit, stripped, and
# panic=unwind so lambda_runtime reports a handler panic to Lambda as an invocation error.
if ! cargo lambda build --release --disable-optimizations "$flag" --output-format zip --lambda-dir "$lambda_dir" --locked \
  "${packages[@]}"; then
  echo "build-lambda: the build failed." >&2
  if [[ "$arch" == arm64 ]]; then
    echo "build-lambda: if the failure is about the aarch64 target, try: make lambda ARCH=x86_64" >&2
  fi
  exit 1
fi

mkdir -p dist/lambda
rm -f dist/lambda/*.zip dist/lambda/ARCH
for binary in "${binaries[@]}"; do
  cp "$lambda_dir/$binary/bootstrap.zip" "dist/lambda/$binary.zip"
done
echo "$arch" >dist/lambda/ARCH
echo "build-lambda: built for $arch in $((SECONDS - started)) s:"
for binary in "${binaries[@]}"; do
  zip_bytes=$(stat -c %s "dist/lambda/$binary.zip")
  binary_bytes=$(unzip -Zt "dist/lambda/$binary.zip" | awk '{print $3}')
  awk -v name="$binary.zip" -v zipped="$zip_bytes" -v unzipped="$binary_bytes" 'BEGIN {
    printf "  dist/lambda/%-18s %6.1f MiB (%d bytes), bootstrap %5.1f MiB\n", name,
      zipped / 1048576, zipped, unzipped / 1048576 }'
done
