package nomadexec

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// RedisPasswordItem is the item of an aegir-task job's Nomad Variable
// (TaskVarPath) that holds the back ends' Redis password. The jobspec's
// template writes it to secrets/redis-password in the task's dir, and the
// back end reads that file (AEGIR_REDIS_PASSWORD_FILE).
const RedisPasswordItem = "redis_password"

// TaskVarPath is the Nomad Variable of a server's aegir-task job. The
// job's dispatched children may read it: their workload identity carries
// the parent's job id.
func TaskVarPath(serverName string) string { return "nomad/jobs/" + TaskJobID(serverName) }

// redisJobVars sets the aegir-task jobspec's redis_* variables from
// Config.Redis, and before that puts the password in the job's Nomad
// Variable (once per job and process, and again after forget). The
// password itself is never a job variable.
func (e *Executor) redisJobVars(ctx context.Context, jobID string, vars map[string]any) error {
	r := e.cfg.Redis
	if r.Username != "" {
		vars["redis_username"] = r.Username
	}
	if r.DB != 0 {
		vars["redis_db"] = r.DB
	}
	if r.TLS.Enabled {
		vars["redis_tls"] = true
		for name, v := range map[string]string{"redis_tls_ca_file": r.TLS.CAFile, "redis_tls_cert_file": r.TLS.CertFile,
			"redis_tls_key_file": r.TLS.KeyFile, "redis_tls_server_name": r.TLS.ServerName} {
			if v != "" {
				vars[name] = v
			}
		}
	}
	if r.Password == "" && r.PasswordFile == "" {
		return nil
	}
	vars["redis_password"] = true
	if _, done := e.redisVarsPut.Load(jobID); done {
		return nil
	}
	pw, err := r.ReadPassword()
	if err != nil {
		return fmt.Errorf("the back ends' redis password: %w", err)
	}
	if err := e.putVarItem(ctx, "nomad/jobs/"+jobID, RedisPasswordItem, pw); err != nil {
		return err
	}
	e.redisVarsPut.Store(jobID, true)
	return nil
}

// putVarItem writes value as item of the Nomad Variable at path unless it
// holds it already, check-and-set on the variable's modify index (0: only
// if it does not exist), keeping any other items. Errors never carry the
// value.
func (e *Executor) putVarItem(ctx context.Context, path, item, value string) error {
	for attempt := 1; ; attempt++ {
		cur, _, err := e.api.Variables().Peek(path, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return e.nomadErr(err, "read Nomad variable "+path, e.needsVar("read", path))
		}
		v := &api.Variable{Path: path}
		if cur != nil {
			if cur.Items[item] == value {
				return nil
			}
			v = cur
		}
		if v.Items == nil {
			v.Items = api.VariableItems{}
		}
		v.Items[item] = value
		_, _, err = e.api.Variables().CheckedUpdate(v, (&api.WriteOptions{}).WithContext(ctx))
		var conflict api.ErrCASConflict
		if errors.As(err, &conflict) && attempt < queueVarAttempts {
			continue // another aegir wrote it meanwhile: look again
		}
		if err != nil {
			return e.nomadErr(err, fmt.Sprintf("put %s in Nomad variable %s", item, path), e.needsVar("write", path))
		}
		e.log.Info("stored in the job's Nomad variable", "variable", path, "item", item)
		return nil
	}
}
