#!/usr/bin/env bash
# Deploys or deletes the Tributary stack with the AWS CLI of the pinned tool venv (.venv-aws).
#
#   STACK=… REGION=… ARTIFACT_BUCKET=… [ARTIFACT_PREFIX=tributary] [ARCH=arm64] [PARAMS="K=V …"]
#   [DRY_RUN=1] scripts/deploy.sh deploy          (called by `make deploy`)
#   STACK=… REGION=… scripts/deploy.sh undeploy   (called by `make undeploy`)
#
# deploy: uploads dist/lambda/<binary>.zip to s3://$ARTIFACT_BUCKET/$ARTIFACT_PREFIX/<build id>/
# (build id = short hash of the three zips; an upload is skipped when the key already exists),
# deploys dist/infra/template.json (the rendered template that `make infra-check` lints) with
# `aws cloudformation deploy`, then makes sure the staging bucket sends its events to EventBridge.
# DRY_RUN=1 prints the AWS commands instead of running them. AWS_ENDPOINT_URL (e.g. the local
# emulator) is honoured by the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

command=${1:-}
venv=${AWS_VENV:-.venv-aws}
template=dist/infra/template.json
read -ra binaries <<<"${BINARIES:?set BINARIES to the Lambda binaries (the Makefile does)}"

fail() {
  echo "deploy: $*" >&2
  exit 2
}
require() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || fail "$name is required (make $command STACK=… REGION=… ARTIFACT_BUCKET=…)"
  done
}
# Runs an AWS CLI command, or prints it with DRY_RUN=1.
aws_cli() {
  if [[ -n "${DRY_RUN:-}" ]]; then
    printf '+ aws'
    printf ' %q' "$@"
    printf '\n'
  else
    "$venv/bin/aws" "$@"
  fi
}
# Runs a read-only AWS CLI command (also with DRY_RUN=1, when it can reach AWS).
aws_read() {
  "$venv/bin/aws" "$@"
}
sha() { sha256sum "$@" | sha256sum | cut -c1-12; }

[[ -x "$venv/bin/aws" ]] || fail "$venv/bin/aws not found; run it through make (make $command …)"

deploy() {
  require STACK REGION ARTIFACT_BUCKET
  local prefix=${ARTIFACT_PREFIX:-tributary} arch=${ARCH:-arm64} params=${PARAMS:-}
  [[ -f "$template" ]] || fail "$template not found; make deploy renders it"
  for binary in "${binaries[@]}"; do
    [[ -f "dist/lambda/$binary.zip" ]] || fail "dist/lambda/$binary.zip not found; run make lambda ARCH=$arch first"
  done
  local built
  built=$(cat dist/lambda/ARCH 2>/dev/null || echo unknown)
  [[ "$built" == "$arch" ]] ||
    fail "the zips in dist/lambda were built for $built, not ARCH=$arch: run make lambda ARCH=$arch, or make deploy ARCH=$built"
  case " $params " in
    *" BuildId="* | *" ArtifactBucket="* | *" ArtifactPrefix="* | *" Architecture="* | *" ConfigRevision="*)
      fail "PARAMS must not set BuildId, ArtifactBucket, ArtifactPrefix, Architecture or ConfigRevision (make sets them)"
      ;;
  esac

  local build_id config_revision zips=()
  for binary in "${binaries[@]}"; do zips+=("dist/lambda/$binary.zip"); done
  build_id=$(sha "${zips[@]}")
  # Any change of template or parameters publishes new versions for the live aliases.
  config_revision=$(printf '%s\n%s\n' "$arch" "$params" | cat - "$template" | sha256sum | cut -c1-12)
  echo "deploy: stack $STACK in $REGION, build $build_id ($arch), config $config_revision"

  local key
  for binary in "${binaries[@]}"; do
    key="$prefix/$build_id/$binary.zip"
    if [[ -z "${DRY_RUN:-}" ]] &&
      aws_read s3api head-object --region "$REGION" --bucket "$ARTIFACT_BUCKET" --key "$key" >/dev/null 2>&1; then
      echo "deploy: s3://$ARTIFACT_BUCKET/$key exists"
    else
      aws_cli s3 cp --region "$REGION" --only-show-errors "dist/lambda/$binary.zip" "s3://$ARTIFACT_BUCKET/$key"
    fi
  done

  local overrides=(
    "BuildId=$build_id" "ConfigRevision=$config_revision" "ArtifactBucket=$ARTIFACT_BUCKET"
    "ArtifactPrefix=$prefix" "Architecture=$arch"
  )
  # PARAMS is a list of Key=Value words (values without spaces).
  local extra
  read -r -a extra <<<"$params"
  overrides+=("${extra[@]}")
  # The rendered template is larger than CloudFormation's 51,200-byte inline limit: the CLI uploads
  # it to the artifact bucket.
  aws_cli cloudformation deploy --region "$REGION" --stack-name "$STACK" \
    --template-file "$template" --s3-bucket "$ARTIFACT_BUCKET" --s3-prefix "$prefix/templates" \
    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
    --parameter-overrides "${overrides[@]}"

  if [[ -n "${DRY_RUN:-}" ]]; then
    local bucket
    bucket=$(tr ' ' '\n' <<<"$params" | sed -n 's/^StagingBucketName=//p')
    if [[ -n "$bucket" ]]; then
      aws_cli s3api get-bucket-notification-configuration --region "$REGION" --bucket "$bucket"
      aws_cli s3api put-bucket-notification-configuration --region "$REGION" --bucket "$bucket" \
        --notification-configuration '<the current configuration + "EventBridgeConfiguration": {}>'
    fi
    return 0
  fi
  enable_eventbridge "$(aws_read cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='StagingBucketName'].OutputValue" --output text)"
  aws_read cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query 'Stacks[0].Outputs[].[OutputKey, OutputValue]' --output text
}

# The staging bucket must send "Object Created" events to EventBridge. A bucket the stack creates
# does; an existing one (StagingBucketName) gets EventBridge turned on here, after the deployment. The S3 API replaces the
# whole notification configuration, so the current one is read, EventBridgeConfiguration added, and
# everything else (topic, queue and function notifications) written back unchanged.
enable_eventbridge() {
  local bucket=$1 current merged
  current=$(aws_read s3api get-bucket-notification-configuration --region "$REGION" --bucket "$bucket" --output json)
  merged=$("$venv/bin/python" -c '
import json, sys
configuration = json.loads(sys.argv[1] or "{}")
if "EventBridgeConfiguration" in configuration:
    sys.exit(0)
configuration["EventBridgeConfiguration"] = {}
print(json.dumps(configuration))
' "$current")
  if [[ -z "$merged" ]]; then
    echo "deploy: s3://$bucket already sends its events to EventBridge"
    return 0
  fi
  echo "deploy: turning on EventBridge notifications of s3://$bucket (other notifications kept)"
  aws_cli s3api put-bucket-notification-configuration --region "$REGION" --bucket "$bucket" \
    --notification-configuration "$merged"
}

undeploy() {
  require STACK REGION
  echo "deploy: deleting stack $STACK in $REGION"
  local retained
  if [[ -z "${DRY_RUN:-}" ]]; then
    # Only for the report below: a failure here must not stop the deletion.
    retained=$(aws_read cloudformation describe-stack-resources --region "$REGION" --stack-name "$STACK" \
      --query "StackResources[?ResourceType=='AWS::S3::Bucket' || ResourceType=='AWS::DynamoDB::Table'].[ResourceType, PhysicalResourceId]" \
      --output text 2>/dev/null) || retained=""
  fi
  aws_cli cloudformation delete-stack --region "$REGION" --stack-name "$STACK"
  aws_cli cloudformation wait stack-delete-complete --region "$REGION" --stack-name "$STACK"
  echo "deploy: stack $STACK deleted. Retained (DeletionPolicy Retain; delete them yourself if the data may go):"
  if [[ -n "${retained:-}" ]]; then
    sed 's/^/  /' <<<"$retained"
  else
    echo "  the lake bucket, the staging bucket the stack created, and the file-tracker, processing and config tables"
  fi
  echo "deploy: a new stack with the same NamePrefix needs these names free (or imported); the Glue"
  echo "deploy: database was deleted with the stack and is rebuilt by the next refresh of each table."
}

case "$command" in
  deploy) deploy ;;
  undeploy) undeploy ;;
  # Only the EventBridge step, for a bucket given by name (REGION=… scripts/deploy.sh enable-eventbridge BUCKET).
  enable-eventbridge)
    require REGION
    enable_eventbridge "${2:?bucket name}"
    ;;
  *) fail "usage: scripts/deploy.sh deploy|undeploy|enable-eventbridge BUCKET" ;;
esac
