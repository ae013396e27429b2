// Command bench is the load tool of the SDK: it runs group-buy commands
// (Open, Join, Match, ConfirmPayment) from many concurrent clients through
// groupbuy.Service against a store, and reports throughput, latency
// percentiles, rejected joins, retries, round trips per command and a final
// consistency check of the database (no team may hold more active seats than
// its capacity).
//
// Scenarios:
//
//   - groupbuy: each client picks a random slot from a table of forming
//     teams (-forming, default 2×clients); it opens a team when the slot is empty and joins the
//     slot's team otherwise, then pays for the seat it got. A join refused
//     as full or closed is a rejected join and empties the slot.
//   - hot: every client calls Match (fullest first) on the same campaign and
//     pays, so all contend on the same few forming teams. A Match whose
//     store found no team it could take (MatchTeam) opens one.
//   - referral: seeds a referral programme (PolicyChina, 2 levels, auto
//     approval) with -users users, user i bound to a random j < i and all
//     active distributors (generate_series on PostgreSQL, the Service on the
//     memory store; SQLite and MySQL are not supported), then each client
//     calls referral.Service.Attribute for fresh orders of random buyers,
//     about 1% of operations freezing or unfreezing a random distributor.
//     Afterwards 100 snapshots are read back: none may pay more than 2
//     levels.
//
// The store is chosen by -db: empty for the in-memory store, a postgres://
// URL for PostgreSQL (pgx), a go-sql-driver DSN such as
// root@tcp(127.0.0.1:3306)/test for MySQL/MariaDB, anything else is a SQLite
// file path. SQL tables get a fresh random prefix and are dropped at the end
// unless -keep.
//
// Example:
//
//	go run ./examples/bench -scenario groupbuy -clients 8 -duration 15s \
//	    -db 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// The last line of the output is
//
//	groupbuy ops/s=<n> p99_ms=<n> overfilled=<n>
//
// and the exit status is non-zero when a team was overfilled, one of its
// seat counters (seats_taken, seats_paid, seat_rows) does not match its
// seats, or it has more seat rows than groupbuy.MaxSeatRows allows.
// For -scenario referral it is
//
//	referral ops/s=<n> p99_ms=<n> depth_violations=<n>
//
// (ops/s counts Attribute calls) and the exit status is non-zero when a
// snapshot pays more than 2 levels.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", ScenarioGroupbuy, "groupbuy, hot or referral")
	dsn := fs.String("db", "", "database: empty for memory, a SQLite file path, a postgres:// URL, or a MySQL DSN user@tcp(host:port)/db")
	clients := fs.Int("clients", 8, "concurrent clients (each with its own connection)")
	duration := fs.Duration("duration", 15*time.Second, "how long to run")
	teamSize := fs.Int("team-size", 0, "team size (default 5; 3 for -scenario hot)")
	prefix := fs.String("prefix", "", "table prefix (default a fresh random one)")
	match := fs.String("match", string(groupbuy.MatchFullest), "Match strategy of -scenario hot: fullest, oldest or random")
	users := fs.Int("users", 0, "users in the tree of -scenario referral (default 1,000,000; 100,000 on the memory store, which allows at most 200,000)")
	forming := fs.Int("forming", 0, "forming teams the clients of -scenario groupbuy share (default 2 per client)")
	keep := fs.Bool("keep", false, "keep the tables after the run")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	switch *scenario {
	case ScenarioGroupbuy, ScenarioHot, ScenarioReferral:
	default:
		fmt.Fprintf(stderr, "bench: unknown -scenario %q (groupbuy, hot or referral)\n", *scenario)
		return 2
	}
	if *duration <= 0 || *clients <= 0 || *forming < 0 {
		fmt.Fprintln(stderr, "bench: -duration and -clients must be positive, -forming not negative")
		return 2
	}
	if *scenario == ScenarioReferral && *dsn != "" && dbKind(*dsn) != "postgres" {
		fmt.Fprintf(stderr, "bench: -scenario referral supports PostgreSQL and the memory store only, not %s\n", dbKind(*dsn))
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	var target Target
	var cleanup func() error
	if *dsn == "" {
		target = Target{Name: "memory", Store: memory.New()}
	} else {
		p := *prefix
		if p == "" {
			p = "bench_" + token() + "_"
		}
		var err error
		target, cleanup, err = openSQL(ctx, *dsn, p, *clients, *keep)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *scenario == ScenarioReferral {
		return mainReferral(ctx, target, cleanup, RefOptions{Users: *users, Clients: *clients, Duration: *duration}, stdout, stderr)
	}
	res, err := Run(ctx, target, Options{
		Scenario: *scenario, Clients: *clients, Duration: *duration, TeamSize: *teamSize, Forming: *forming, Calibrate: true,
		Match: groupbuy.MatchStrategy(*match),
	})
	if res != nil {
		report(stdout, res)
	}
	return finish(stderr, cleanup, err, func() bool {
		c := res.Check
		return c.Overfilled > 0 || c.Mismatched > 0 || c.PaidMismatched > 0 || c.RowsMismatched > 0 || c.OverRowBound > 0
	})
}

// finish runs cleanup and returns the exit status of a run that ended with
// err: 1 when it failed or when failed() reports a broken invariant.
func finish(stderr io.Writer, cleanup func() error, err error, failed func() bool) int {
	if cleanup != nil {
		if cerr := cleanup(); cerr != nil {
			fmt.Fprintln(stderr, "bench: cleanup:", cerr)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if failed() {
		return 1
	}
	return 0
}

// mainReferral runs -scenario referral and returns the exit status.
func mainReferral(ctx context.Context, target Target, cleanup func() error, o RefOptions, stdout, stderr io.Writer) int {
	res, err := RunReferral(ctx, target, o)
	if res != nil {
		reportReferral(stdout, res)
	}
	return finish(stderr, cleanup, err, func() bool { return res.DepthViolations > 0 || res.Inline > 0 })
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func report(w io.Writer, r *Result) {
	scenario := r.Scenario
	if r.Scenario == ScenarioHot {
		scenario += " match=" + string(r.Match)
	}
	if r.Scenario == ScenarioGroupbuy {
		scenario += " forming=" + strconv.Itoa(r.Forming)
	}
	fmt.Fprintf(w, "scenario=%s store=%s clients=%d team-size=%d duration=%s elapsed=%.2fs\n",
		scenario, r.Store, r.Clients, r.TeamSize, r.Duration, r.Elapsed.Seconds())
	if len(r.Calibration) > 0 {
		var parts []string
		for _, k := range r.Calibration {
			parts = append(parts, fmt.Sprintf("%s=%d", k.Kind, k.Count))
		}
		fmt.Fprintf(w, "round trips per command, 1 client: %s\n", strings.Join(parts, " "))
	}
	fmt.Fprintf(w, "transactions=%d (open=%d join=%d pay=%d; teams filled=%d) TPS=%.0f\n",
		r.Transactions, r.Opens, r.Joins, r.Pays, r.Filled, r.TPS())
	fmt.Fprintf(w, "latency ms: all p50=%s p99=%s max=%s | open p50=%s p99=%s | join p50=%s p99=%s | pay p50=%s p99=%s (filling p50=%s p99=%s)\n",
		ms(r.All.P50), ms(r.All.P99), ms(r.All.Max), ms(r.Open.P50), ms(r.Open.P99),
		ms(r.Join.P50), ms(r.Join.P99), ms(r.Pay.P50), ms(r.Pay.P99), ms(r.Fill.P50), ms(r.Fill.P99))
	if r.Transactions > 0 {
		fmt.Fprintf(w, "client CPU=%.2fs (%.2f cores, %.0f µs per transaction)\n", r.ClientCPU.Seconds(),
			r.ClientCPU.Seconds()/r.Elapsed.Seconds(), float64(r.ClientCPU.Microseconds())/float64(r.Transactions))
	}
	fmt.Fprintf(w, "commands=%d rejected joins=%d matches without a team=%d errors=%d late payments=%d\n", r.Commands, r.RejectedJoins, r.MatchesWithoutTeam, r.Errors, r.Late)
	for _, m := range r.ErrorSamples {
		fmt.Fprintf(w, "  error: %s\n", m)
	}
	if r.HasRetries {
		fmt.Fprintf(w, "retries=%d\n", r.Retries)
	} else {
		fmt.Fprintln(w, "retries=n/a (the store does not expose them)")
	}
	if r.HasRoundTrips && r.Commands > 0 {
		perTxn := 0.0
		if r.Transactions > 0 {
			perTxn = float64(r.RoundTrips) / float64(r.Transactions)
		}
		fmt.Fprintf(w, "round trips=%d per command=%.2f per transaction=%.2f\n",
			r.RoundTrips, float64(r.RoundTrips)/float64(r.Commands), perTxn)
	}
	if len(r.Server) > 0 {
		var parts []string
		for _, k := range r.Server {
			parts = append(parts, fmt.Sprintf("%s=%d", k.Kind, k.Count))
		}
		fmt.Fprintf(w, "server counters during the run (whole server, approximate): %s\n", strings.Join(parts, " "))
	}
	c := r.Check
	fmt.Fprintf(w, "check: teams=%d overfilled=%d seats_taken mismatches=%d seats_paid mismatches=%d fully paid but forming=%d max active seats=%d seat_rows mismatches=%d over the seat-row bound=%d\n",
		c.Teams, c.Overfilled, c.Mismatched, c.PaidMismatched, c.FilledForming, c.MaxActive, c.RowsMismatched, c.OverRowBound)
	fmt.Fprintf(w, "groupbuy ops/s=%.0f p99_ms=%s overfilled=%d\n", r.TPS(), ms(r.All.P99), c.Overfilled)
}
