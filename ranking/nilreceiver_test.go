package ranking_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/ranking"
)

// exportedTypes are the package's exported types, by name. The test
// parses the package's source and fails when a type is missing here, so
// that a new type is held to the rule too.
var exportedTypes = map[string]reflect.Type{
	"Action": reflect.TypeFor[ranking.Action](), "Affinity": reflect.TypeFor[ranking.Affinity](),
	"Axis": reflect.TypeFor[ranking.Axis](), "AxisPenalty": reflect.TypeFor[ranking.AxisPenalty](),
	"Batch": reflect.TypeFor[ranking.Batch](), "BayesianRating": reflect.TypeFor[ranking.BayesianRating](),
	"Candidate": reflect.TypeFor[ranking.Candidate](), "Config": reflect.TypeFor[ranking.Config](),
	"Contribution": reflect.TypeFor[ranking.Contribution](), "Counts": reflect.TypeFor[ranking.Counts](),
	"CursorConfig": reflect.TypeFor[ranking.CursorConfig](), "CursorInfo": reflect.TypeFor[ranking.CursorInfo](),
	"Diversity": reflect.TypeFor[ranking.Diversity](), "Engagement": reflect.TypeFor[ranking.Engagement](),
	"Explanation": reflect.TypeFor[ranking.Explanation](), "Explore": reflect.TypeFor[ranking.Explore](),
	"ExponentialDecay": reflect.TypeFor[ranking.ExponentialDecay](), "Fatigue": reflect.TypeFor[ranking.Fatigue](),
	"Filter": reflect.TypeFor[ranking.Filter](), "Freshness": reflect.TypeFor[ranking.Freshness](),
	"GaussianDecay": reflect.TypeFor[ranking.GaussianDecay](), "IDSet": reflect.TypeFor[ranking.IDSet](),
	"Input": reflect.TypeFor[ranking.Input](), "Item": reflect.TypeFor[ranking.Item](),
	"ItemExplanation": reflect.TypeFor[ranking.ItemExplanation](), "Lane": reflect.TypeFor[ranking.Lane](),
	"LinearDecay": reflect.TypeFor[ranking.LinearDecay](), "MMR": reflect.TypeFor[ranking.MMR](),
	"MMRChoice": reflect.TypeFor[ranking.MMRChoice](), "Multiplier": reflect.TypeFor[ranking.Multiplier](),
	"Page": reflect.TypeFor[ranking.Page](), "PowerDecay": reflect.TypeFor[ranking.PowerDecay](),
	"PriceFit": reflect.TypeFor[ranking.PriceFit](), "Ranker": reflect.TypeFor[ranking.Ranker](),
	"Removal": reflect.TypeFor[ranking.Removal](), "Request": reflect.TypeFor[ranking.Request](),
	"Signal": reflect.TypeFor[ranking.Signal](), "SignalError": reflect.TypeFor[ranking.SignalError](),
	"Slot": reflect.TypeFor[ranking.Slot](), "Stock": reflect.TypeFor[ranking.Stock](),
	"Tier": reflect.TypeFor[ranking.Tier](), "TimeInvariant": reflect.TypeFor[ranking.TimeInvariant](),
	"ValidationError": reflect.TypeFor[ranking.ValidationError](), "Weighted": reflect.TypeFor[ranking.Weighted](),
	"WilsonRating": reflect.TypeFor[ranking.WilsonRating](),
}

// indexAccessors take a candidate's index i, which must be below Len():
// like a slice index, they panic otherwise, so on a nil or an empty Batch
// with every i.
var indexAccessors = []string{"Affinity", "Attr", "Created", "CreatedUnixNano", "Embedding",
	"ID", "Lane", "NegativeFeedbackAt", "PriceMinor", "Rating", "Stock"}

// TestNilAndZeroReceivers calls every exported method of every exported
// type of the package, with zero arguments, on a nil pointer receiver
// (methods with pointer receivers) and on the zero value: none may panic.
// A nil receiver behaves like the zero value or returns a typed error.
// IDSet.Add, Batch.Len, Batch.Reset, Batch.Index, Ranker.Config,
// Ranker.Stable, Page.FilterOf, SignalError.Error and Unwrap,
// Input.AsOfUnixNano panicked on a nil receiver; every built-in signal's
// Score panicked on a nil Input, an Input without a Batch or a short out.
func TestNilAndZeroReceivers(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	ptrMethods := map[string][]string{} // type -> methods with a pointer receiver
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() {
						if _, ok := exportedTypes[ts.Name.Name]; !ok {
							t.Errorf("exported type %s is not in exportedTypes", ts.Name.Name)
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil || !d.Name.IsExported() {
					continue
				}
				if st, ok := d.Recv.List[0].Type.(*ast.StarExpr); ok {
					name := st.X.(*ast.Ident).Name
					ptrMethods[name] = append(ptrMethods[name], d.Name.Name)
				}
			}
		}
	}
	call := func(t *testing.T, recv reflect.Value, m reflect.Method) (panicked any) {
		defer func() { panicked = recover() }()
		fn := recv.Method(m.Index)
		args := make([]reflect.Value, fn.Type().NumIn())
		for k := range args {
			args[k] = reflect.Zero(fn.Type().In(k))
		}
		fn.Call(args)
		return nil
	}
	for name, typ := range exportedTypes {
		if typ.Kind() == reflect.Interface {
			continue
		}
		ptr := reflect.PointerTo(typ)
		for k := range ptr.NumMethod() {
			m := ptr.Method(k)
			isPtr := slices.Contains(ptrMethods[name], m.Name)
			index := name == "Batch" && slices.Contains(indexAccessors, m.Name)
			t.Run(fmt.Sprintf("%s.%s", name, m.Name), func(t *testing.T) {
				zero := call(t, reflect.New(typ), m)
				if index {
					if zero == nil || call(t, reflect.Zero(ptr), m) == nil {
						t.Errorf("(*%s).%s(0) on an empty batch did not panic", name, m.Name)
					}
					return
				}
				if zero != nil {
					t.Errorf("%s.%s on the zero value panicked: %v", name, m.Name, zero)
				}
				if isPtr {
					if p := call(t, reflect.Zero(ptr), m); p != nil {
						t.Errorf("(*%s)(nil).%s panicked: %v", name, m.Name, p)
					}
				}
			})
		}
	}
}

// TestNilIDSetAdd: Add on a nil *IDSet cannot add (nothing holds the set)
// and panicked; it returns a *ValidationError and the set stays empty.
// On a zero IDSet it adds.
func TestNilIDSetAdd(t *testing.T) {
	var s *ranking.IDSet
	var err error
	func() {
		defer func() {
			if x := recover(); x != nil {
				t.Fatalf("(*IDSet)(nil).Add panicked: %v", x)
			}
		}()
		err = s.Add("a")
	}()
	ve, ok := err.(*ranking.ValidationError)
	if !ok || ve.Field != "IDSet" {
		t.Fatalf("(*IDSet)(nil).Add: got %T %v, want a *ValidationError for IDSet", err, err)
	}
	var z ranking.IDSet
	if err := z.Add("a"); err != nil || !z.Has("a") || z.Len() != 1 {
		t.Fatalf("zero IDSet: Add = %v, Has = %t, Len = %d", err, z.Has("a"), z.Len())
	}
}

// TestBuiltinScoreBadInput: a host calling a built-in signal itself with
// an Input that Rank would never pass gets a *ValidationError naming what
// is wrong; Score indexed out of range and panicked.
func TestBuiltinScoreBadInput(t *testing.T) {
	b, _ := newGen(1).batch(t, 4)
	for name, c := range map[string]struct {
		in  *ranking.Input
		out []float64
	}{
		"in":       {nil, make([]float64, 4)},
		"in.Batch": {&ranking.Input{Live: []int32{0}}, make([]float64, 4)},
		"out":      {&ranking.Input{Batch: b, Live: []int32{0, 3}}, make([]float64, 3)},
		"in.Live":  {&ranking.Input{Batch: b, Live: []int32{0, 4}}, make([]float64, 4)},
	} {
		for _, sig := range []ranking.Signal{ranking.Engagement{}, ranking.ExponentialDecay{HalfLife: time.Hour}, ranking.Affinity{}, ranking.Explore{}} {
			var err error
			func() {
				defer func() {
					if x := recover(); x != nil {
						t.Fatalf("%s with a bad %s panicked: %v", sig.Name(), name, x)
					}
				}()
				err = sig.Score(c.in, c.out)
			}()
			ve, ok := err.(*ranking.ValidationError)
			if !ok || ve.Field != name {
				t.Errorf("%s with a bad %s: got %T %v", sig.Name(), name, err, err)
			}
		}
	}
}

// TestBuiltinScoreLiveMiddle: a host's Input whose Live is not increasing,
// with its ends inside the batch and an index in the middle outside it, is
// a *ValidationError on in.Live; its ends alone were checked, and the
// signal indexed the batch with the middle one and panicked.
func TestBuiltinScoreLiveMiddle(t *testing.T) {
	b, _ := newGen(1).batch(t, 4)
	for _, live := range [][]int32{{0, 9, 3}, {0, -1, 3}, {1, 1, 2}, {2, 1, 3}} {
		for _, sig := range []ranking.Signal{ranking.Engagement{}, ranking.ExponentialDecay{HalfLife: time.Hour}, ranking.Affinity{}, ranking.Explore{}} {
			var err error
			func() {
				defer func() {
					if x := recover(); x != nil {
						t.Fatalf("%s with Live %v panicked: %v", sig.Name(), live, x)
					}
				}()
				err = sig.Score(&ranking.Input{Batch: b, Live: live}, make([]float64, 4))
			}()
			ve, ok := err.(*ranking.ValidationError)
			if !ok || ve.Field != "in.Live" {
				t.Errorf("%s with Live %v: got %T %v", sig.Name(), live, err, err)
			}
		}
	}
}
