# aegir-queue: one pass of a periodic queue (cron, backup or stats) on a
# schedule. Nomad starts `aegir queue run <queue>`; prohibit_overlap keeps a
# slow pass from overlapping the next (aegir also holds a lock per queue).
#
#   aegir jobspec aegir-queue -var queue=cron -var schedule="*/5 * * * *" | nomad job run -
# (the job's id is then aegir-queue-cron; `nomad job run -var` on this file
# would register every queue under the one id "aegir-queue").
#
# The pass needs an aegir API token (AEGIR_TOKEN). It is not in this file,
# which anyone allowed to read the job can read: aegir puts it in the Nomad
# Variable nomad/jobs/<job id> (item aegir_token) before registering the
# job, and the template below reads it with the allocation's workload
# identity into the task's private secrets dir. A pass runs as a child job
# (aegir-queue-cron/periodic-<time>), and Nomad 1.4 puts the parent's job
# id in a child's identity, so the template reads the variable of
# NOMAD_JOB_PARENT_ID. By hand:
#
#   nomad var put nomad/jobs/aegir-queue-cron aegir_token=aegir_...

variable "queue" {
  type    = string
  default = "backup"
}

variable "schedule" {
  type        = string
  description = "cron expression for how often one pass runs"
  default     = "0 * * * *"
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "region" {
  type    = string
  default = "global"
}

variable "namespace" {
  type    = string
  default = "default"
}

variable "driver" {
  type    = string
  default = "raw_exec"
}

variable "aegir_binary" {
  type    = string
  default = "/usr/local/bin/aegir"
}

# The back end's binary fetched by Nomad (go-getter) instead of aegir_binary
# on the node: a URL of aegir.tar.gz, which every aegir server serves at
# /dl/aegir.tar.gz (nomad.binary_from_servers), and its "sha256:<hex>",
# which go-getter checks before anything runs. Empty: aegir_binary.
variable "aegir_artifact" {
  type    = string
  default = ""
}

variable "aegir_artifact_checksum" {
  type    = string
  default = ""
}

variable "aegir_addr" {
  type        = string
  description = "the aegir API the pass talks to"
  default     = "http://127.0.0.1:8480"
}

job "aegir-queue-backup" {
  name        = "aegir-queue-${var.queue}"
  type        = "batch"
  region      = var.region
  namespace   = var.namespace
  datacenters = var.datacenters

  meta {
    aegir_queue = var.queue
  }

  periodic {
    cron             = var.schedule
    prohibit_overlap = true
    time_zone        = "UTC"
  }

  group "queue" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "pass" {
      driver = var.driver

      dynamic "artifact" {
        for_each = var.aegir_artifact == "" ? [] : [var.aegir_artifact]
        content {
          source      = artifact.value
          destination = "local/"
          options {
            checksum = var.aegir_artifact_checksum
          }
        }
      }

      config {
        command = var.aegir_artifact == "" ? var.aegir_binary : "local/aegir"
        args    = ["queue", "run", var.queue]
      }

      env {
        AEGIR_ADDR = var.aegir_addr
      }

      # nomadVarExists first: nomadVar alone waits for a missing variable
      # forever, and prohibit_overlap would then hold back every later pass;
      # without the token the pass fails at once, saying so.
      template {
        data        = <<-EOT
          {{- $path := printf "nomad/jobs/%s" (env "NOMAD_JOB_PARENT_ID") -}}
          {{- if nomadVarExists $path -}}{{- with nomadVar $path -}}
          AEGIR_TOKEN={{ .aegir_token }}
          {{ end -}}{{- end -}}
        EOT
        destination = "secrets/aegir.env"
        env         = true
        change_mode = "noop"
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
