# aegir-task: the back end of one aegir server, as a parameterized batch job.
# aegir dispatches one child of this job per task, with the task's context as
# the payload and its id in meta; the child runs `aegir provision run` on the
# server's own Nomad node.
#
# aegir registers this file through Nomad's /v1/jobs/parse with the
# variables set and the job's id set to its name (an HCL2 job label cannot
# come from a variable). By hand, one job per server:
#   aegir jobspec aegir-task -var server_name=web1 -var node_name=web1 | nomad job run -
# (`nomad job run -var ... aegir-task.nomad.hcl` works too, but registers
# every server's job under the one id "aegir-task").

variable "server_name" {
  type        = string
  description = "the aegir server's name; the job is aegir-task-<name>"
  default     = "web1"
}

variable "node_name" {
  type        = string
  description = "the Nomad client node the server's tasks run on"
  default     = "aegir-a"
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1", "dc2"]
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
  type        = string
  description = "raw_exec runs the back end as root on the host, which it needs to manage web and database servers; exec or docker elsewhere"
  default     = "raw_exec"
}

variable "aegir_binary" {
  type    = string
  default = "/opt/aegir/bin/aegir"
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

variable "data_dir" {
  type        = string
  description = "aegir's per-server state on the node (SQLite, routes, local secrets)"
  default     = "/var/lib/aegir"
}

variable "redis_addr" {
  type        = string
  description = "where the back end streams its log and leaves its result"
  default     = "127.0.0.1:6380"
}

# How the back end logs in to Redis besides its address (aegir server's
# redis block). TLS files must be at these paths on the node.
variable "redis_username" {
  type    = string
  default = "aegir"
}

variable "redis_db" {
  type    = number
  default = 0
}

variable "redis_tls" {
  type    = bool
  default = true
}

variable "redis_tls_ca_file" {
  type    = string
  default = "/etc/aegir/redis-ca.pem"
}

variable "redis_tls_cert_file" {
  type    = string
  default = ""
}

variable "redis_tls_key_file" {
  type    = string
  default = ""
}

variable "redis_tls_server_name" {
  type    = string
  default = ""
}

variable "redis_password" {
  type        = bool
  description = "the back end reads its Redis password from this job's Nomad Variable (nomad/jobs/<job id>, item redis_password), which aegir writes; it is never in the job"
  default     = true
}

variable "vault_policies" {
  type        = list(string)
  description = "Vault policies the back end's token gets (e.g. [\"aegir-backend\"]); empty: no vault block, the back end uses the local secrets file"
  default     = []
}

variable "cpu" {
  type    = number
  default = 500
}

variable "memory" {
  type    = number
  default = 1024
}

variable "stop_after_client_disconnect" {
  type        = string
  description = "a client cut off from the Nomad servers this long stops the back end itself (it rolls back); aegir gives the task up once Nomad marks the node lost, so a partitioned node must not finish it anyway"
  default     = "1m"
}

variable "kill_timeout" {
  type    = string
  default = "30s"
}

job "aegir-task-web1" {
  name        = "aegir-task-${var.server_name}"
  type        = "batch"
  region      = var.region
  namespace   = var.namespace
  datacenters = var.datacenters

  meta {
    aegir_server = var.server_name
  }

  parameterized {
    payload       = "required"
    meta_required = ["task_id"]
  }

  constraint {
    attribute = "${node.unique.name}"
    value     = var.node_name
  }

  group "provision" {
    # Nomad 1.4's way to keep a lost node's back end from running on: the
    # client stops it after this long without the servers. (A lost
    # allocation is replaced whatever reschedule says; aegir stops and
    # purges the dispatched job when it gives a lost task up, so no
    # replacement runs when the node rejoins.)
    stop_after_client_disconnect = var.stop_after_client_disconnect

    # A failed task is retried by aegir, as a new task, never by Nomad.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "provision" {
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
        args    = ["provision", "run", "--context", "${NOMAD_TASK_DIR}/context.json"]
      }

      dispatch_payload {
        file = "context.json"
      }

      env {
        AEGIR_DATA_DIR              = var.data_dir
        AEGIR_REDIS_ADDR            = var.redis_addr
        AEGIR_REDIS_USERNAME        = var.redis_username
        AEGIR_REDIS_DB              = var.redis_db
        AEGIR_REDIS_TLS             = var.redis_tls
        AEGIR_REDIS_TLS_CA_FILE     = var.redis_tls_ca_file
        AEGIR_REDIS_TLS_CERT_FILE   = var.redis_tls_cert_file
        AEGIR_REDIS_TLS_KEY_FILE    = var.redis_tls_key_file
        AEGIR_REDIS_TLS_SERVER_NAME = var.redis_tls_server_name
        AEGIR_REDIS_PASSWORD_FILE   = var.redis_password ? "$${NOMAD_SECRETS_DIR}/redis-password" : ""
      }

      # The Redis password, from the job's Nomad Variable into a file in
      # the task's secrets dir. A dispatched child reads its parent's
      # variable (its workload identity carries the parent's job id).
      # nomadVarExists first: nomadVar alone waits for a missing variable
      # for ever; without it the file is empty and the back end says so.
      dynamic "template" {
        for_each = var.redis_password ? [1] : []
        content {
          data        = <<-EOT
            {{- $path := printf "nomad/jobs/%s" (env "NOMAD_JOB_PARENT_ID") -}}
            {{- if nomadVarExists $path -}}{{- with nomadVar $path -}}{{ index . "redis_password" }}{{- end -}}{{- end -}}
          EOT
          destination = "secrets/redis-password"
          perms       = "0400"
          change_mode = "noop"
        }
      }

      kill_timeout = var.kill_timeout

      # Nomad gives the back end a Vault token (VAULT_TOKEN) with these
      # policies; service tokens, since the back end creates a child token
      # per task for its throwaway database user.
      dynamic "vault" {
        for_each = length(var.vault_policies) > 0 ? [1] : []
        content {
          policies    = var.vault_policies
          change_mode = "noop"
        }
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
