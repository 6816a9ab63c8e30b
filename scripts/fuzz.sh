#!/usr/bin/env bash
# Runs every Go fuzz target for FUZZTIME each (default 3s: `make test`;
# `make fuzz` runs them longer). Seeds: each target's f.Add calls and its
# committed corpus in the package's testdata/fuzz/<Target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}
targets=(
	./runtime/textgen:FuzzStopper
	./runtime/textgen:FuzzVocabEncode
	./runtime/vision:FuzzDecodeJSON
	./runtime/vision:FuzzDecodeAndPreprocess
	./runtime/model:FuzzParseMetadata
	./runtime/registry:FuzzLoadConfig
	./runtime/server:FuzzGenerateRequest
	./runtime/server:FuzzClassifyRequest
	./runtime/native:FuzzCheck
)
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t##*:}
	echo "fuzz: $pkg $name for $FUZZTIME"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/rnnrun-fuzz.$$ 2>&1 || { cat /tmp/rnnrun-fuzz.$$; rm -f /tmp/rnnrun-fuzz.$$; exit 1; }
	tail -1 /tmp/rnnrun-fuzz.$$
done
rm -f /tmp/rnnrun-fuzz.$$
