#!/usr/bin/env bash
# The check step of action.yml (the repository's GitHub Action): turns the action's inputs (PE_* in the
# environment, never interpolated into the script) into a `policy-engine check` command line, runs it,
# and publishes the exit code and report paths as step outputs and the Markdown as the job summary.
# The step itself always succeeds, so the upload and comment steps run; the action's last step fails
# the job on the verdict.
set -uo pipefail
set -f  # inputs are lists of paths and globs: never expanded by this shell

words() { tr '\n' ' ' <<<"${1:-}"; }
read -r -a paths <<<"$(words "${PE_PATHS:-.}")"
read -r -a policies <<<"$(words "${PE_POLICIES:-}")"
read -r -a formats <<<"$(words "${PE_FORMATS:-sarif markdown json}")"
read -r -a excludes <<<"$(words "${PE_EXCLUDE:-}")"
out_dir="${PE_OUTPUT_DIR:-policy-engine-results}"
outputs="${GITHUB_OUTPUT:-/dev/null}"

args=(check --no-color --fail-on "${PE_FAIL_ON:-deny}")
for p in "${policies[@]}"; do args+=(--policies "$p"); done
for e in "${excludes[@]}"; do args+=(--exclude "$e"); done
[ -n "${PE_PRICING:-}" ] && args+=(--pricing "$PE_PRICING")
[ -n "${PE_BASE:-}" ] && args+=(--base "$PE_BASE")

declare -A ext=([sarif]=sarif [markdown]=md [json]=json [junit]=xml [codequality]=codequality.json
                [policyreport]=yaml [text]=txt)
markdown=""
for f in "${formats[@]}"; do
  if [ -z "${ext[$f]:-}" ]; then
    echo "::error title=policy-engine::unknown format '$f' in the formats input (one of ${!ext[*]})"
    echo "exit-code=2" >>"$outputs"
    exit 0
  fi
  path="$out_dir/policy-engine.${ext[$f]}"
  args+=(--output "$f=$path")
  echo "$f=$path" >>"$outputs"
  [ "$f" = markdown ] && markdown="$path"
done
[ "${#paths[@]}" -eq 0 ] && paths=(.)
args+=(-- "${paths[@]}")

mkdir -p "$out_dir"
echo "policy-engine ${args[*]}"
policy-engine "${args[@]}"
code=$?
echo "exit-code=$code" >>"$outputs"
if [ -n "$markdown" ] && [ -f "$markdown" ] && [ "${PE_JOB_SUMMARY:-true}" = "true" ] && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$markdown" >>"$GITHUB_STEP_SUMMARY"
fi
case $code in
  0) ;;
  1) echo "::error title=policy-engine::blocking findings (see the report above and the job summary)" ;;
  *) echo "::error title=policy-engine::check could not run to the end (exit $code): input or policy errors above" ;;
esac
exit 0
