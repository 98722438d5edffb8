package locks

import "github.com/redis/go-redis/v9"

// ElectorLocker and RedisClient let tests reach into an elector's locker
// to cut it off from Redis.
func ElectorLocker(e *Elector) Locker            { return e.locker }
func RedisClient(r *Redis) redis.UniversalClient { return r.rdb }
