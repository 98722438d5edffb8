# aegir: the Nomad ACL policy of the token `aegir server` uses (nomad.token
# in its config, or NOMAD_TOKEN). It is all aegir asks of Nomad; back ends
# running in the jobs need no Nomad token at all. ops/nomad/setup-acl.sh
# loads it and makes the token.
#
# Nomad grants jobs per namespace, not per job: give aegir a namespace of
# its own (nomad.namespace / NOMAD_NAMESPACE; setup-acl.sh writes this
# policy for it) so this token cannot touch other jobs. Tested against
# Nomad 1.4 with ACLs on (scheduler/nomadexec/nomadtest/acl_test.go).
namespace "default" {
  capabilities = [
    # Find finished dispatched children to purge, and a task's job after a
    # restart: GET /v1/jobs?prefix=aegir-task-&filter=...
    "list-jobs",
    # Follow a job: the job, its allocations (blocking queries) and its
    # evaluations (why it was not placed); a forced queue pass's evaluation.
    "read-job",
    # Render the jobspecs through Nomad's own parser, /v1/jobs/parse.
    "parse-job",
    # Register aegir-task-<server> and aegir-queue-<queue>; stop the job of
    # a cancelled task or a disabled queue; purge finished children.
    "submit-job",
    # Dispatch each task as a child of its server's aegir-task job; force
    # a queue pass (`nomad job periodic force`).
    "dispatch-job",
    # Read a back end's result from its allocation's stdout
    # (alloc/logs/provision.stdout.0) when it left none in Redis: a back
    # end that could not reach Redis, or a Redis that lost the record; and
    # then its log lines from its stderr (provision.stderr.0) when they
    # are not in the task's log either.
    "read-fs",
  ]

  # Secrets for the jobs live in each job's own variable, nomad/jobs/<job>,
  # never in the job. aegir reads them (check-and-set) and writes them; the
  # jobs' tasks read them with their workload identity, which needs no rule
  # here.
  variables {
    # The aegir API token of each periodic queue job; deleted with a
    # disabled queue's job.
    path "nomad/jobs/aegir-queue-*" {
      capabilities = ["read", "write", "destroy"]
    }
    # The back ends' Redis password (redis.password), in each server's
    # aegir-task job's variable.
    path "nomad/jobs/aegir-task-*" {
      capabilities = ["read", "write"]
    }
  }
}

# Optional: a task whose allocation was lost or never placed fails with its
# node's state ("node aegir-b is down", "no Nomad client named ... has
# joined"). Without it those explanations only lack that part.
node {
  policy = "read"
}
