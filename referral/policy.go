package referral

import (
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
)

// SelfPurchaseRule says who earns on a distributor's own purchase.
type SelfPurchaseRule string

// Self-purchase rules.
const (
	// SelfPurchaseSelfLevel1: the buyer earns on their own purchase as level
	// 1 (CRMEB's 自购返佣); their referrer is level 2.
	SelfPurchaseSelfLevel1 SelfPurchaseRule = "self_level1"
	// SelfPurchaseNone: a distributor's own purchase pays nobody.
	SelfPurchaseNone SelfPurchaseRule = "none"
	// SelfPurchaseReferrer: the purchase attributes from the buyer's
	// referrer as level 1, like any customer's.
	SelfPurchaseReferrer SelfPurchaseRule = "referrer"
)

// SelfPurchaseSet is a set of self-purchase rules.
type SelfPurchaseSet uint8

// Has reports whether r is in the set.
func (s SelfPurchaseSet) Has(r SelfPurchaseRule) bool { return s&selfBit(r) != 0 }

func selfBit(r SelfPurchaseRule) SelfPurchaseSet {
	switch r {
	case SelfPurchaseSelfLevel1:
		return 1
	case SelfPurchaseNone:
		return 2
	case SelfPurchaseReferrer:
		return 4
	}
	return 0
}

// SelfPurchases returns the set of rules rs.
func SelfPurchases(rs ...SelfPurchaseRule) SelfPurchaseSet {
	var s SelfPurchaseSet
	for _, r := range rs {
		s |= selfBit(r)
	}
	return s
}

// Policy is a compliance policy: the hard limits that a programme may not
// exceed. It is a comparable value; Name and Version are copied into every
// attribution so that an auditor knows which rules produced it. The names
// of the presets ("china", "wechat", "ftc", "eu") stand for the presets'
// limits: ValidatePolicy refuses a policy that takes one with other values
// (a copy of PolicyChina with MaxLevels 3, or any change assigned to the
// exported variables); a policy of a host's own takes another name.
type Policy struct {
	Name    string
	Version int
	// MaxLevels is the deepest paid level counted from the buyer's side:
	// with SelfPurchaseSelfLevel1 the buyer's own purchase is level 1.
	MaxLevels int
	// MaxLevelRate caps each level's rate, MaxTotalRate their sum, as
	// fractions of the line's net price, in [0, 1].
	MaxLevelRate float64
	MaxTotalRate float64
	// RecruitmentRewards allows paying for sign-ups alone.
	RecruitmentRewards bool
	// EntryFeeAllowed allows charging (money or a qualifying purchase) for
	// the right to earn.
	EntryFeeAllowed bool
	// SelfPurchase lists the self-purchase rules a programme may choose.
	SelfPurchase SelfPurchaseSet
	// RetailSalesOnly: only sales to customers earn, so a participant's
	// own purchase may not pay anyone (SelfPurchase must be
	// SelfPurchaseNone) and recruitment never pays.
	RetailSalesOnly bool
}

// PolicyChina follows the State Council's 禁止传销条例 (Regulations on
// Prohibition of Pyramid Selling, promulgated 2005-08-23, in force
// 2005-11-01), Art. 7, which prohibits the three forms of pyramid selling:
// paying by the number of people recruited (拉人头), requiring a fee to join
// (入门费) and paying an upline on its downline's sales (团队计酬); and the
// enforcement threshold that prosecutors apply under 刑法 Art. 224-1: an
// organisation of three or more levels (the 2013 SPC/SPP/MPS opinion on
// organising pyramid selling, 三级以上 and 30 members). So: at most two
// levels of commission, counting a self-purchase as a level, no
// recruitment rewards, no entry fee, total at most 50% of the line.
var PolicyChina = presetChina()

func presetChina() Policy {
	return Policy{
		Name: "china", Version: 1, MaxLevels: 2, MaxLevelRate: 0.5, MaxTotalRate: 0.5,
		SelfPurchase: SelfPurchases(SelfPurchaseSelfLevel1, SelfPurchaseNone, SelfPurchaseReferrer),
	}
}

// PolicyWeChat follows the WeChat platform rules (微信公众平台运营规范, the
// section on multi-level distribution, and the Mini Program rules): an
// account must not run distribution of three or more levels (三级及以上分销),
// charge a fee to join, or pay for recruiting. So: at most two levels, no
// recruitment rewards, no entry fee.
var PolicyWeChat = presetWeChat()

func presetWeChat() Policy {
	return Policy{
		Name: "wechat", Version: 1, MaxLevels: 2, MaxLevelRate: 0.5, MaxTotalRate: 0.5,
		SelfPurchase: SelfPurchases(SelfPurchaseSelfLevel1, SelfPurchaseNone, SelfPurchaseReferrer),
	}
}

// PolicyFTC follows the US Federal Trade Commission's "Business Guidance
// Concerning Multi-Level Marketing" (2018) and the Koscot test it restates:
// compensation must come from sales to real retail customers, not from
// recruiting and not from participants' own purchases; paying for the
// right to sell is a hallmark of a pyramid. So: no recruitment rewards, no
// entry fee, only retail sales earn (a participant's own purchase pays
// nobody), at most three levels.
var PolicyFTC = presetFTC()

func presetFTC() Policy {
	return Policy{
		Name: "ftc", Version: 1, MaxLevels: 3, MaxLevelRate: 0.5, MaxTotalRate: 0.5,
		SelfPurchase: SelfPurchases(SelfPurchaseNone), RetailSalesOnly: true,
	}
}

// PolicyEU follows the Unfair Commercial Practices Directive 2005/29/EC,
// Annex I point 14, which blacklists a pyramid promotional scheme where a
// consumer gives consideration for the opportunity to receive compensation
// derived primarily from introducing other consumers rather than from the
// sale or consumption of products (CJEU C-515/12 Padovani). So: no
// recruitment rewards, no entry fee; a participant's own consumption is a
// sale, so every self-purchase rule is allowed; at most three levels.
var PolicyEU = presetEU()

func presetEU() Policy {
	return Policy{
		Name: "eu", Version: 1, MaxLevels: 3, MaxLevelRate: 0.5, MaxTotalRate: 0.5,
		SelfPurchase: SelfPurchases(SelfPurchaseSelfLevel1, SelfPurchaseNone, SelfPurchaseReferrer),
	}
}

// presetPolicy returns the preset named name at version, built afresh (an
// assignment to the exported variables changes nothing here); known is
// false for a name that is no preset's, and for a preset's name at a
// version that does not exist.
func presetPolicy(name string, version int) (p Policy, preset, known bool) {
	switch name {
	case "china":
		p = presetChina()
	case "wechat":
		p = presetWeChat()
	case "ftc":
		p = presetFTC()
	case "eu":
		p = presetEU()
	default:
		return Policy{}, false, false
	}
	return p, true, p.Version == version
}

func checkRate(field string, r float64) error {
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 || r > 1 {
		return invalid(field, fmt.Sprintf("rate %v outside [0, 1]", r))
	}
	return nil
}

// ValidatePolicy checks a policy's own values; a nil p is a
// *ValidationError too.
func ValidatePolicy(p *Policy) error {
	if p == nil {
		return invalid("Policy", "must not be nil")
	}
	if err := validateID("Policy.Name", p.Name); err != nil {
		return err
	}
	if p.Version < 1 {
		return invalid("Policy.Version", "must be ≥ 1")
	}
	if p.MaxLevels < 1 || p.MaxLevels > MaxLevels {
		return invalid("Policy.MaxLevels", fmt.Sprintf("must be in 1..%d", MaxLevels))
	}
	if err := checkRate("Policy.MaxLevelRate", p.MaxLevelRate); err != nil {
		return err
	}
	if err := checkRate("Policy.MaxTotalRate", p.MaxTotalRate); err != nil {
		return err
	}
	if p.SelfPurchase == 0 || p.SelfPurchase&^7 != 0 {
		return invalid("Policy.SelfPurchase", "must allow at least one known rule")
	}
	if p.RetailSalesOnly && (p.RecruitmentRewards || p.SelfPurchase != SelfPurchases(SelfPurchaseNone)) {
		return invalid("Policy.RetailSalesOnly", "excludes recruitment rewards and every self-purchase rule but none")
	}
	// Attributions record a policy by name and version only: a policy
	// that takes a preset's name must be that preset, else a snapshot of a
	// 3-level programme would say that the 2-level "china v1" applied.
	if want, preset, known := presetPolicy(p.Name, p.Version); preset && (!known || *p != want) {
		return invalid("Policy", fmt.Sprintf("%s v%d is not the preset %s v%d: a preset's name stands for its limits "+
			"(name a policy of your own otherwise)", p.Name, p.Version, want.Name, want.Version))
	}
	return nil
}

// policyRule names a rule of the programme's policy that a programme broke.
func policyRule(p *Policy, field, rule string) error {
	return invalid(field, fmt.Sprintf("policy %s v%d: %s", p.Name, p.Version, rule))
}

// CheckNewProgramme checks a programme to be created: ValidateProgramme,
// an ID without ':' and a CreatedAt unset or in the years 1 to 9999. Event keys are "ref:<programme>:<user or
// order>:<suffix>", so with no ':' in the programme's ID two keys are
// equal only for the same programme, subject and suffix, whatever the
// user or order IDs hold. A programme stored before this rule keeps
// working: reads hold it to ValidateProgramme only.
func CheckNewProgramme(p *Programme) error {
	if p == nil {
		return invalid("programme", "must not be nil")
	}
	if err := ValidateProgramme(p); err != nil {
		return err
	}
	if strings.IndexByte(p.ID, ':') >= 0 {
		return invalid("ID", "must not contain ':' (it separates the parts of event keys)")
	}
	return checkTime("CreatedAt", p.CreatedAt)
}

// ValidateProgramme checks a programme's values and that it stays within
// its policy. A programme beyond its policy is a *ValidationError whose
// Reason names the policy and the rule; so is a nil p.
func ValidateProgramme(p *Programme) error {
	if p == nil {
		return invalid("programme", "must not be nil")
	}
	if err := validateID("ID", p.ID); err != nil {
		return err
	}
	if err := ValidatePolicy(&p.Policy); err != nil {
		return err
	}
	pol := &p.Policy
	if p.Levels < 1 {
		return invalid("Levels", "must be ≥ 1")
	}
	if p.Levels > pol.MaxLevels {
		return policyRule(pol, "Levels", fmt.Sprintf("at most %d levels (max levels)", pol.MaxLevels))
	}
	if len(p.LevelRates) != p.Levels {
		return invalid("LevelRates", "must hold one rate per level")
	}
	// Summed as the decimals the rates were written as (NewFromFloat
	// takes a float's shortest decimal), so that 0.1 + 0.2 is 0.3 and the
	// cap holds exactly, with no float tolerance to slip above it.
	total := decimal.Zero
	for i, r := range p.LevelRates {
		f := fmt.Sprintf("LevelRates[%d]", i)
		if err := checkRate(f, r); err != nil {
			return err
		}
		if r > pol.MaxLevelRate {
			return policyRule(pol, f, fmt.Sprintf("at most %v per level (max level rate)", pol.MaxLevelRate))
		}
		total = total.Add(decimal.NewFromFloat(r))
	}
	if total.GreaterThan(decimal.NewFromFloat(pol.MaxTotalRate)) {
		return policyRule(pol, "LevelRates", fmt.Sprintf("at most %v in total (max total rate)", pol.MaxTotalRate))
	}
	switch p.BindMode {
	case BindFirstTouch:
	case BindFirstTouchLocked:
		if p.LockPeriod <= 0 {
			return invalid("LockPeriod", "must be positive for first_touch_locked")
		}
	case BindLastTouch:
		if p.AttributionWindow <= 0 {
			return invalid("AttributionWindow", "must be positive for last_touch")
		}
	default:
		return invalid("BindMode", fmt.Sprintf("unknown mode %q", p.BindMode))
	}
	if p.LockPeriod < 0 || p.AttributionWindow < 0 {
		return invalid("LockPeriod", "durations must not be negative")
	}
	if selfBit(p.SelfPurchase) == 0 {
		return invalid("SelfPurchase", fmt.Sprintf("unknown rule %q", p.SelfPurchase))
	}
	if !pol.SelfPurchase.Has(p.SelfPurchase) {
		rule := "self-purchase rule " + string(p.SelfPurchase) + " not allowed"
		if pol.RetailSalesOnly {
			rule += " (retail sales only: a participant's own purchase pays nobody)"
		}
		return policyRule(pol, "SelfPurchase", rule)
	}
	switch p.Frozen {
	case FrozenSkipLevel, FrozenStopChain:
	default:
		return invalid("Frozen", fmt.Sprintf("unknown rule %q", p.Frozen))
	}
	switch p.Approval {
	case ApproveManual, ApproveAuto:
	default:
		return invalid("Approval", fmt.Sprintf("unknown mode %q", p.Approval))
	}
	if p.SignupReward && !pol.RecruitmentRewards {
		return policyRule(pol, "SignupReward", "no reward for sign-ups alone (recruitment rewards)")
	}
	if p.EntryFee && !pol.EntryFeeAllowed {
		return policyRule(pol, "EntryFee", "no fee or qualifying purchase to become a distributor (entry fee)")
	}
	if p.MaxCodesPerUser < 0 || p.MaxCodesPerUser > MaxCodesPerUserCeiling {
		return invalid("MaxCodesPerUser", fmt.Sprintf("must be in 0..%d (0: %d)", MaxCodesPerUserCeiling, DefaultMaxCodesPerUser))
	}
	return nil
}

func validateID(field, id string) error { return check.ID(field, id) }
